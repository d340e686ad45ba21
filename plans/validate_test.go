package plans

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// validPlan is a small plan exercising all three substrates; the table below breaks it one way
// at a time.
const validPlan = `apiVersion: sgde/v1
kind: Plan
metadata:
  name: base
inputs:
  - name: question
    type: string
output: solve
nodes:
  - id: write
    substrate: llm
    llm:
      prompt: "Write a program for {{ inputs.question }}"
      parser:
        type: code
  - id: evaluate
    substrate: code
    code:
      source: |
        package main

        func main() {}
      inputs:
        program: write
      outputs:
        answer: number
  - id: solve
    substrate: consensus
    consensus:
      members: [write, evaluate]
      over: evaluate.answer
      n: 3
      vote:
        method: plurality
        tie_break: first
`

func TestValidPlan(t *testing.T) {
	p, err := Parse([]byte(validPlan), "base.yaml")
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	if got := p.Order(); strings.Join(got, ",") != "solve" {
		t.Errorf("Order = %v, want [solve]", got)
	}
	if got := p.MemberOrder("solve"); strings.Join(got, ",") != "write,evaluate" {
		t.Errorf("MemberOrder = %v, want [write evaluate]", got)
	}
	if got := p.EffectiveVote(p.Node("solve")); got.Normalize != NormalizeNumber || got.Precision != DefaultPrecision {
		t.Errorf("EffectiveVote = %+v, want number normalisation with default precision", got)
	}
	if typ, err := p.TypeOf(Ref{Node: "solve"}); err != nil || typ != TypeNumber {
		t.Errorf("TypeOf(solve) = %v, %v; want number", typ, err)
	}
}

// TestValidationErrors breaks the valid plan one way at a time and checks that the error names
// the line and the node, and says what is wrong.
func TestValidationErrors(t *testing.T) {
	tests := []struct {
		name     string
		old, new string // replace old with new in validPlan
		want     string // the whole error line, after "base.yaml:"
	}{
		{"unknown field", "      prompt:", "      promt:", `13: node "write": unknown field "promt" (did you mean "prompt"?)`},
		{"unknown top-level field", "kind: Plan", "kind: Plan\nkinds: x", `3: unknown field "kinds" (did you mean "kind"?)`},
		{"duplicate key", "    substrate: llm", "    substrate: llm\n    substrate: code", `12: node "write": duplicate key "substrate" (first at line 11)`},
		{"wrong api version", "sgde/v1", "sgde/v2", `1: apiVersion is "sgde/v2", want "sgde/v1"`},
		{"dangling template ref", "{{ inputs.question }}", "{{ inputs.questions }}", `13: node "write": reference "inputs.questions": the plan has no input "questions"`},
		{"dangling node ref", "program: write", "program: wirte", `24: node "evaluate": reference "wirte": no node "wirte" (did you mean "write"?)`},
		{"bad template", "{{ inputs.question }}", "{{ inputs.question ", `13: node "write": llm.prompt: bad reference: unclosed {{ at byte 20 (write {{{{ for a literal {{)`},
		{"self cycle", "program: write", "program: evaluate", `16: node "evaluate": dependency cycle: "evaluate" -> "evaluate" (each node reads the next)`},
		{"member reads consensus", "program: write", "program: solve", `16: node "evaluate": dependency cycle: "evaluate" -> "solve" -> "evaluate" (each node reads the next)`},
		{"member read from outside", "output: solve", "output: evaluate.answer", `8: reference "evaluate.answer": "evaluate" is a member of consensus "solve"; read the voted value as "solve" instead`},
		{"unknown output field", "over: evaluate.answer", "over: evaluate.result", `31: node "solve": reference "evaluate.result": code node "evaluate" has no output "result" (declared: answer)`},
		{"field of a string", "over: evaluate.answer", "over: write.text", `31: node "solve": reference "write.text": node "write" outputs string (parser code), which has no field "text"`},
		{"median of a string", "over: evaluate.answer\n      n: 3\n      vote:\n        method: plurality\n        tie_break: first", "over: write\n      n: 3\n      vote:\n        method: median", `34: node "solve": median needs a numeric value, but "write" is string`},
		{"plurality without tie-break", "        tie_break: first\n", "", `33: node "solve": plurality needs vote.tie_break: first, smallest or largest`},
		{"tie-break on majority", "method: plurality", "method: majority", `35: node "solve": vote.tie_break applies only to plurality (majority cannot tie)`},
		{"n out of range", "n: 3", "n: 65", `32: node "solve": consensus.n is 65, want 1 to 64`},
		{"first member not llm", "members: [write, evaluate]", "members: [evaluate, write]", `30: node "solve": the first member "evaluate" must be an llm node, not code`},
		{"substrate without body", "substrate: llm", "substrate: code", `11: node "write": substrate is code but the node has no code section`},
		{"duplicate node id", "id: evaluate", "id: write", `16: node "write": node id "write" is already used by nodes[0] (line 10)`},
		{"reserved node id", "id: evaluate", "id: inputs", `16: node "inputs": node id "inputs" is reserved for plan inputs`},
		{"memory below the Go runtime", "        answer: number\n", "        answer: number\n      limits:\n        memory_mib: 3\n", `28: node "evaluate": limits.memory_mib is 3, want at least 4: the Go wasip1 runtime alone needs about 3 MiB`},
		{"timeout out of range", "        answer: number\n", "        answer: number\n      limits:\n        timeout: 11m\n", `28: node "evaluate": limits.timeout is 11m, want 1ms to 10m0s`},
		{"digest mismatch", "      inputs:\n        program", "      digest: sha256:0000000000000000000000000000000000000000000000000000000000000000\n      inputs:\n        program", `23: node "evaluate": code.digest does not match the source: the source is sha256:`},
		{"not package main", "package main", "package tools", `18: node "evaluate": code source is package tools, want package main`},
		{"source and path", "      source: |", "      path: x.go\n      source: |", `18: node "evaluate": code has both source and path; keep one`},
		{"bad regex", "type: code", "type: regex\n        pattern: \"(\"", `16: node "write": llm.parser: pattern does not compile (RE2 syntax): error parsing regexp: missing closing ): ` + "`(`"},
		{"schema on a text parser", "type: code", "type: text\n        schema: {type: object}", `16: node "write": llm.parser.schema is only for the json parser`},
		{"unsupported schema keyword", "type: code", "type: json\n        schema: {type: object, minProperties: 1}", `16: node "write": llm.parser.schema.minProperties: keyword "minProperties" is not supported (supported: type, properties, required, items, enum, additionalProperties)`},
		{"temperature", "      parser:\n        type: code", "      sampling:\n        temperature: 3\n      parser:\n        type: code", `15: node "write": sampling.temperature is 3, want 0 to 2`},
		{"type error", "n: 3", "n: three", `32: node "solve": cannot unmarshal !!str ` + "`three`" + ` into int`},
		{"two documents", "tie_break: first\n", "tie_break: first\n---\nkind: Plan\n", `36: more than one YAML document; a plan file holds exactly one`},
		{"over an input", "over: evaluate.answer", "over: inputs.question", `31: node "solve": consensus.over "inputs.question" must name a member of this consensus`},
		{"over a non-member", "members: [write, evaluate]", "members: [write]", `31: node "solve": consensus.over "evaluate.answer" must name a member of this consensus`},
		{"llm member reads a member", "{{ inputs.question }}", "{{ inputs.question }} {{ evaluate.answer }}", `13: node "write": reference "evaluate.answer": the llm member of consensus "solve" runs first and cannot read other members`},
		{"input type", "type: string", "type: text", `7: input "question" has type "text", want one of string, number, integer, boolean, object, array`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(validPlan, tc.old, tc.new, 1)
			if src == validPlan {
				t.Fatalf("test case does not change the plan: %q not found", tc.old)
			}
			_, err := Parse([]byte(src), "base.yaml")
			if err == nil {
				t.Fatalf("Parse succeeded, want error %q", tc.want)
			}
			if !errors.Is(err, ErrInvalid) {
				t.Errorf("errors.Is(err, ErrInvalid) = false for %v", err)
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error is %T, want ErrorList", err)
			}
			want := "base.yaml:" + tc.want
			for _, e := range list {
				if strings.HasPrefix(e.Error(), want) {
					return
				}
			}
			t.Errorf("errors:\n%v\nwant a line starting with:\n%s", err, want)
		})
	}
}

// TestCodePath covers the file side of code nodes: found, missing, escaping lexically and
// through a symbolic link, not a regular file.
func TestCodePath(t *testing.T) {
	root := t.TempDir()
	planDir := filepath.Join(root, "plan")
	must(t, os.MkdirAll(filepath.Join(planDir, "code"), 0o755))
	must(t, os.WriteFile(filepath.Join(planDir, "code", "ok.go"), []byte("package main\n\nfunc main() {}\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "outside.go"), []byte("package main\n"), 0o644))
	must(t, os.Symlink(filepath.Join(root, "outside.go"), filepath.Join(planDir, "link.go")))
	must(t, os.Symlink(filepath.Join(planDir, "code", "ok.go"), filepath.Join(planDir, "inside-link.go")))
	must(t, os.Mkdir(filepath.Join(planDir, "dir.go"), 0o755))
	tests := []struct {
		path string
		want string // "" means valid
	}{
		{"code/ok.go", ""},
		{"./code/../code/ok.go", ""},
		{"inside-link.go", ""},
		{"code/missing.go", "does not exist"},
		{"../outside.go", "escapes the plan folder"},
		{"code/../../outside.go", "escapes the plan folder"},
		{"link.go", "escapes the plan folder through a symbolic link"},
		{"/etc/passwd", "must be relative to the plan file"},
		{"dir.go", "is not a regular file"},
		{"code/ok.txt", "must name a .go file"},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			src := strings.Replace(strings.Replace(validPlan, "      source: |\n        package main\n\n        func main() {}\n", "      path: "+tc.path+"\n", 1), "xx", "", 1)
			file := filepath.Join(planDir, "plan.yaml")
			must(t, os.WriteFile(file, []byte(src), 0o644))
			p, err := Load(file)
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Load: %v", err)
				}
				if got := p.Node("evaluate").Code.SourceText(); !strings.HasPrefix(got, "package main") {
					t.Errorf("SourceText = %q, want the file's content", got)
				}
				return
			}
			if err == nil {
				t.Fatalf("Load succeeded, want %q", tc.want)
			}
			want := `plan.yaml:19: node "evaluate": code.path "` + tc.path + `" ` + tc.want
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error:\n%v\nwant it to contain:\n%s", err, want)
			}
		})
	}
}

func TestErrorsSortedAndAll(t *testing.T) {
	src := strings.NewReplacer("n: 3", "n: 0", "{{ inputs.question }}", "{{ nope }}", "sgde/v1", "v0").Replace(validPlan)
	_, err := Parse([]byte(src), "base.yaml")
	var list ErrorList
	if !errors.As(err, &list) {
		t.Fatalf("error %v is not an ErrorList", err)
	}
	if len(list) != 3 {
		t.Fatalf("got %d errors, want 3:\n%v", len(list), err)
	}
	for i := 1; i < len(list); i++ {
		if list[i].Line < list[i-1].Line {
			t.Errorf("errors not sorted by line:\n%v", err)
		}
	}
}

func TestPACProvenance(t *testing.T) {
	base := validPlan + "provenance:\n  pac: {k: 3, epsilon: 0.1, delta: 0.05, m: %M, train_n: 100, satisfied: %S}\n"
	need := PACBound(3, 0.1, 0.05) // ceil((3 ln 3 + ln 20) / 0.1) = 63
	if need != 63 {
		t.Fatalf("PACBound = %d, want 63", need)
	}
	for _, tc := range []struct{ m, sat, want string }{
		{"63", "true", ""},
		{"62", "true", "pac.m is 62, but k=3, epsilon=0.1, delta=0.05 need at least 63"},
		{"63", "false", "pac.satisfied is false, but train_n=100 and m=63"},
	} {
		src := strings.NewReplacer("%M", tc.m, "%S", tc.sat).Replace(base)
		_, err := Parse([]byte(src), "base.yaml")
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("m=%s: %v", tc.m, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("m=%s satisfied=%s: error %v, want %q", tc.m, tc.sat, err, tc.want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
