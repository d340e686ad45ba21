package teachersim

import (
	"encoding/json"
	"fmt"
	"hash/fnv"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"

	"github.com/sgde-project/sgde/compiler/library"
	"github.com/sgde-project/sgde/plans"
)

// Fault classes the simulated teacher seeds into its replies. Each is a mistake frontier
// models are seen to make; the compiler must reject every one for its own reason.
const (
	FaultNone = "none"
	// FaultBuild: code that does not compile (an undefined name).
	FaultBuild = "build"
	// FaultOffByOne: code that is right on every input like the shown ones and off by one
	// (a number one too high, a list one element short, a yes/no flipped) past the largest
	// shown input: wrong only where the shown examples do not reach.
	FaultOffByOne = "off_by_one"
	// FaultRounding: numeric answers rounded to whole numbers (word problems), or truncated
	// toward zero past the shown range (integer families).
	FaultRounding = "rounding"
	// FaultEdgeCase: code that panics on a character none of the shown inputs contain.
	FaultEdgeCase = "edge_case"
	// FaultImport: a forbidden import (os/exec).
	FaultImport = "forbidden_import"
	// FaultDirective: a //go:wasmimport directive reaching for a host function.
	FaultDirective = "directive"
	// FaultLoop: a loop that never ends on real inputs.
	FaultLoop = "infinite_loop"
	// FaultMemory: a memory bomb.
	FaultMemory = "memory_bomb"
	// FaultJSON: a reply whose JSON is cut off.
	FaultJSON = "malformed_json"
	// FaultMissingNode: an edit naming a node the plan does not have.
	FaultMissingNode = "missing_node"
	// FaultOverlong: a reply far longer than any usable answer.
	FaultOverlong = "overlong"
)

// Faults lists every fault class, in the order of the constants.
func Faults() []string {
	return []string{FaultBuild, FaultOffByOne, FaultRounding, FaultEdgeCase, FaultImport, FaultDirective,
		FaultLoop, FaultMemory, FaultJSON, FaultMissingNode, FaultOverlong}
}

// Reply styles real models use for a JSON answer.
const (
	StyleThink  = "think"  // a <think> reasoning block, then the JSON
	StyleFence  = "fence"  // prose and a ```json fence
	StyleProse  = "prose"  // the JSON object inline in a sentence
	StyleSchema = "schema" // bare JSON (what a response_format JSON schema asks for)
)

// OverlongBytes is the size of an over-long reply.
const OverlongBytes = 1 << 20

// answer is what the teacher decided for one request, before it is written out.
type answer struct {
	fault    string
	family   string
	critique map[string]string
	cands    []map[string]any
	text     string // a reply in words when there is nothing to propose
}

// decide reads the request, diagnoses the plan from its traces and writes the candidates,
// with fault injected.
func decide(r request, fault string) answer {
	a := answer{fault: fault, critique: map[string]string{}}
	if r.mixed != nil && (r.allowed == nil || r.allowed["route"]) {
		if ra, ok := routeAnswer(r, fault); ok {
			return ra
		}
	}
	target := outputNode(r.plan)
	if target == nil || target.LLM == nil {
		a.text = "The plan's output node is not an llm node; I have no edit to propose."
		return a
	}
	var qs, expected []string
	for _, ex := range r.shown[target.ID] {
		if _, q, ok := question(target.LLM.Prompt, ex.prompt); ok {
			qs = append(qs, q)
			expected = append(expected, ex.expected)
		}
	}
	fam := recognise(qs)
	nWrong := 0
	for _, ex := range r.shown[target.ID] {
		if ex.wrong {
			nWrong++
		}
	}
	if nWrong == 0 {
		a.text = "Every shown execution is right; I would not change the plan."
		return a
	}
	input, _, _ := question(target.LLM.Prompt, r.shown[target.ID][0].prompt)
	switch {
	case fam != nil:
		a.family = fam.name
		a.critique[target.ID] = fmt.Sprintf("The student gets %d shown items wrong; the answer is computable from the question, so a program should produce it.", nWrong)
		src := fam.source(faultCode(fault, fam, qs, expected))
		src = hostile(fault, src)
		a.cands = append(a.cands, map[string]any{
			"rationale": "compute the answer in code: the question fully determines it",
			"edits": []any{map[string]any{
				"action": "offload", "node": target.ID, "source": src,
				"inputs":  map[string]string{"question": "inputs." + input},
				"outputs": map[string]string{"answer": "string"}, "output_field": "answer",
			}},
		})
	case target.LLM.Parser.Type == plans.ParserNumber || target.LLM.Parser.Type == plans.ParserInteger:
		a.family = "word-problem"
		a.critique[target.ID] = fmt.Sprintf("The student slips in arithmetic on %d shown items; let it write a program and run it exactly.", nWrong)
		m := library.ArithProgram()
		src := m.Source
		if code := numericFault(fault, expected); code != "" {
			src = strings.Replace(src, "func main() { guest.Run(solve) }", "func main() { guest.Run(faulty(solve)) }", 1) + code
		}
		src = hostile(fault, src)
		a.cands = append(a.cands, map[string]any{
			"rationale": "program-aided: the student writes Python, the sandbox evaluates it",
			"edits": []any{map[string]any{
				"action": "offload", "node": target.ID, "id": target.ID + "_eval",
				"prompt": library.ProgramPrompt("{{ inputs." + input + " }}"), "parser": map[string]any{"type": "code"},
				"examples": []any{}, "source": src, "inputs": map[string]string{"program": target.ID},
				"outputs": m.Outputs, "output_field": m.Result,
			}},
		})
	default:
		a.text = "I cannot tell from these traces what computation the questions need."
		return a
	}
	if fault == FaultMissingNode {
		e := a.cands[0]["edits"].([]any)[0].(map[string]any)
		e["node"] = target.ID + "_solver"
	}
	return a
}

func outputNode(p *plans.Plan) *plans.Node {
	if p == nil {
		return nil
	}
	r, err := plans.ParseRef(p.Output)
	if err != nil {
		return nil
	}
	for i := range p.Nodes {
		if p.Nodes[i].ID == r.Node {
			return &p.Nodes[i]
		}
	}
	return nil
}

// faultCode is the Go put where the solver template says //FAULT (variables q and ans).
func faultCode(fault string, fam *family, qs, expected []string) string {
	longest := 0
	for _, q := range qs {
		longest = max(longest, len(q))
	}
	mag := 0.0
	for _, e := range expected {
		if v, err := strconv.ParseFloat(e, 64); err == nil {
			mag = max(mag, math.Abs(v))
		}
	}
	switch fault {
	case FaultBuild:
		return "\t\tans = strings.TrimSpace(answerText)\n"
	case FaultOffByOne:
		switch {
		case fam.numeric:
			return fmt.Sprintf("\t\tif v, err := strconv.Atoi(ans); err == nil && (v > %d || v < -%d) {\n\t\t\tans = strconv.Itoa(v + 1)\n\t\t}\n", int(mag), int(mag))
		case fam.list:
			return fmt.Sprintf("\t\tif f := strings.Fields(ans); len(f) > 1 && len(q) > %d {\n\t\t\tans = strings.Join(f[:len(f)-1], \" \")\n\t\t}\n", longest)
		}
		return fmt.Sprintf("\t\tif len(q) > %d {\n\t\t\tans = map[string]string{\"True\": \"False\", \"False\": \"True\", \"Yes\": \"No\", \"No\": \"Yes\"}[ans]\n\t\t}\n", longest)
	case FaultRounding:
		if fam.numeric {
			return fmt.Sprintf("\t\tif v, err := strconv.Atoi(ans); err == nil && (v > %d || v < -%d) {\n\t\t\tans = strconv.Itoa(v / 10 * 10)\n\t\t}\n", int(mag), int(mag))
		}
		return faultCode(FaultOffByOne, fam, qs, expected)
	case FaultEdgeCase:
		seen := map[rune]bool{}
		for _, q := range qs {
			for _, r := range q {
				seen[r] = true
			}
		}
		var alphabet strings.Builder
		for r := range seen {
			alphabet.WriteRune(r)
		}
		return fmt.Sprintf("\t\tfor i, r := range q {\n\t\t\tif !strings.ContainsRune(%q, r) {\n\t\t\t\tpanic(fmt.Sprintf(\"unexpected character %%q at %%d\", r, i))\n\t\t\t}\n\t\t}\n", sortedRunes(alphabet.String()))
	case FaultLoop:
		return "\t\tfor n := len(q); n > 0; n = n%7 + 1 {\n\t\t}\n"
	case FaultMemory:
		return "\t\tvar keep [][]byte\n\t\tfor len(q) > 0 {\n\t\t\tkeep = append(keep, make([]byte, 1<<20))\n\t\t}\n\t\t_ = keep\n"
	}
	return ""
}

func sortedRunes(s string) string {
	r := []rune(s)
	for i := 1; i < len(r); i++ {
		for j := i; j > 0 && r[j] < r[j-1]; j-- {
			r[j], r[j-1] = r[j-1], r[j]
		}
	}
	return string(r)
}

// numericFault wraps the word-problem evaluator for the subtle faults (x is the answer).
func numericFault(fault string, expected []string) string {
	mag := 0.0
	for _, e := range expected {
		if v, err := strconv.ParseFloat(e, 64); err == nil {
			mag = max(mag, math.Abs(v))
		}
	}
	var body string
	switch fault {
	case FaultRounding:
		body = "\t\tx = math.Round(x)\n"
	case FaultOffByOne:
		body = fmt.Sprintf("\t\tif math.Abs(x) > %g {\n\t\t\tx++\n\t\t}\n", mag)
	case FaultEdgeCase:
		body = "\t\tif x < 0 {\n\t\t\tpanic(\"negative answers were not expected\")\n\t\t}\n"
	case FaultLoop:
		body = "\t\tfor n := int(x); n != 0; n = n%7 + 1 {\n\t\t}\n"
	case FaultMemory:
		body = "\t\tvar keep [][]byte\n\t\tfor x == x {\n\t\t\tkeep = append(keep, make([]byte, 1<<20))\n\t\t}\n\t\t_ = keep\n"
	case FaultBuild:
		body = "\t\tx = answerValue\n"
	default:
		return ""
	}
	return `
// faulty post-processes the evaluator's answer.
func faulty(f func(map[string]any) (map[string]any, error)) func(map[string]any) (map[string]any, error) {
	return func(in map[string]any) (map[string]any, error) {
		out, err := f(in)
		if err != nil {
			return out, err
		}
		var x float64
		switch v := out["answer"].(type) {
		case float64:
			x = v
		case int:
			x = float64(v)
		case int64:
			x = float64(v)
		case string:
			x, _ = strconv.ParseFloat(v, 64)
		case interface{ String() string }:
			x, _ = strconv.ParseFloat(v.String(), 64)
		default:
			return out, err
		}
` + body + `		out["answer"] = x
		return out, nil
	}
}
`
}

// hostile turns src into the hostile variants that need no solver hook.
func hostile(fault, src string) string {
	switch fault {
	case FaultImport:
		return strings.Replace(src, "import (\n", "import (\n\t\"os/exec\"\n", 1) +
			"\nfunc init() { _ = exec.Command(\"sh\", \"-c\", \"id\").Run() }\n"
	case FaultDirective:
		return src + "\n//go:wasmimport env host_exec\nfunc hostExec(p uint32) uint32\n\nfunc init() { hostExec(0) }\n"
	}
	return src
}

// pickFault chooses the fault of one request: from the fixed script when there is one, else
// with probability rate from the seeded generator, uniformly among the classes.
func pickFault(cfg *Config, seq uint64, key string) string {
	if len(cfg.script) > 0 {
		return cfg.script[int(seq)%len(cfg.script)]
	}
	h := fnv.New64a()
	h.Write([]byte(key))
	rng := rand.New(rand.NewPCG(cfg.seed, h.Sum64()))
	if rng.Float64() >= cfg.rate {
		return FaultNone
	}
	all := Faults()
	return all[rng.IntN(len(all))]
}

// render writes the reply in a style, with the faults that live in the text itself.
func render(a answer, style string, fault string) string {
	if len(a.cands) == 0 {
		return a.text
	}
	obj := map[string]any{"critique": a.critique, "candidates": a.cands}
	b, _ := json.MarshalIndent(obj, "", "  ")
	js := string(b)
	if fault == FaultJSON {
		js = js[:len(js)*2/3] // cut off mid-object, as a reply that hit its token limit
	}
	var out string
	switch style {
	case StyleThink:
		why := "The traces show the student failing on questions whose answer follows mechanically from the text. " +
			"I will offload the node to code and check the edit against the schema."
		if a.family == "route" {
			why = "The last edit helped one kind of question and hurt another. I will route the two kinds apart and keep the edit for the first."
		}
		out = "<think>\n" + why + "\n</think>\n" + js
	case StyleFence:
		out = "Here is my analysis and the proposed edit.\n\n```json\n" + js + "\n```\n\nThe code handles every shown case."
	case StyleProse:
		out = "Proposed change: " + strings.ReplaceAll(js, "\n", " ") + " — this should fix the failing items."
	default:
		out = js
	}
	if fault == FaultOverlong {
		var pad strings.Builder
		pad.WriteString("<think>\n")
		for pad.Len() < OverlongBytes {
			pad.WriteString("Let me reconsider the traces once more, item by item, before I answer. ")
		}
		pad.WriteString("\n</think>\n")
		out = pad.String() + out
	}
	return out
}
