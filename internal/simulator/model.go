package simulator

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"unicode/utf8"
)

// Model is the simulated student: knowledge, a profile and a seed. It is immutable and safe for
// concurrent use; every draw is a pure function of the request (see rng.go).
type Model struct {
	k    *Knowledge
	p    Profile
	seed uint64
}

// truth is what the simulator knows about one sample and a real model would not tell: used by
// tests and benchmarks of the simulator itself, never sent on the wire.
type truth struct {
	known     bool
	record    int // index into the knowledge, when known
	task      taskKind
	correct   bool // the answer (or the program) is the reference one
	shared    bool // wrong because the question is systematically hard for the profile
	value     float64
	program   string
	corrupted corruption
	compliant bool
	// textual: the label is not a number, and text is the answer (the label or a wrong one).
	textual bool
	text    string
}

type sampleOut struct {
	text   string
	finish string // "stop" or "length"
	tokens int
	truth  truth
}

type generation struct {
	choices      []sampleOut
	promptTokens int
	latencyMS    float64 // unscaled simulated latency
	// recorded: every choice is a real model's recorded output, not a simulated one.
	recorded bool
}

// tokens estimates a token count the way the usage figures do: about four bytes a token.
func tokens(s string) int {
	if s == "" {
		return 0
	}
	return (len(s) + 3) / 4
}

func promptTokens(msgs []message) int {
	n := 2
	for _, m := range msgs {
		n += 4 + tokens(m.content)
	}
	return n
}

// generate answers a validated request. nonce is zero for seeded or greedy requests; an unseeded
// sampled request gets a random nonce from the server, like an endpoint without a fixed seed.
func (m *Model) generate(req *chatRequest, nonce uint64) (generation, *apiError) {
	pt := promptTokens(req.messages)
	window := m.p.spec.ContextWindow
	if pt+req.maxTokens > window {
		return generation{}, invalid("messages", "This model's maximum context length is %d tokens. However, you requested %d tokens (%d in the messages, %d in the completion). Please reduce the length of the messages or completion.",
			window, pt+req.maxTokens, pt, req.maxTokens).withCode("context_length_exceeded")
	}
	limit := window - pt
	if req.maxTokens > 0 {
		limit = req.maxTokens
	}
	pi := analyzePrompt(req.messages)
	var all strings.Builder
	var roles uint64
	for _, msg := range req.messages {
		all.WriteString(msg.content)
		all.WriteByte('\n')
		roles = mix(roles, hashString(msg.role))
	}
	norm := normalize(all.String())
	promptKey := mix(hashString(norm), roles)
	rec, known := m.k.find(norm, all.String())

	greedy := req.temperature < temperatureEps
	g := generation{choices: make([]sampleOut, req.n), promptTokens: pt}
	maxOut := 0
	if text, ok := m.recorded(req, pi, rec, known); ok {
		// One recorded sample per item and mode: every choice, seed and temperature gets it.
		g.recorded = true
		for i := range req.n {
			out := finish(text, req.stops, limit)
			out.truth = truth{known: true, record: rec, task: pi.task, textual: true, text: text, compliant: true}
			g.choices[i] = out
			maxOut = max(maxOut, out.tokens)
		}
	}
	for i := range req.n {
		if g.recorded {
			break
		}
		var key uint64
		if greedy {
			key = mix(streamSample, m.p.spec.Seed, m.seed, promptKey)
		} else {
			var seed, hasSeed uint64
			if req.seed != nil {
				seed, hasSeed = uint64(*req.seed), 1
			}
			key = mix(streamSample, m.p.spec.Seed, m.seed, promptKey, hasSeed, seed,
				math.Float64bits(req.temperature), uint64(i), nonce)
		}
		t := m.sample(key, req, pi, rec, known)
		text := t.render(m.p, pi, req, key, m.k)
		out := finish(text, req.stops, limit)
		out.truth = t
		g.choices[i] = out
		maxOut = max(maxOut, out.tokens)
	}
	lat := m.p.spec.Latency
	jitter := 1 + lat.Jitter*(2*newRand(mix(promptKey, 3)).Float64()-1)
	g.latencyMS = (lat.FirstTokenMS + lat.PerTokenMS*float64(maxOut)) * jitter
	return g, nil
}

// recorded returns the real model's recorded output when the request is one the recording
// covers: a known item with an output for the prompt's mode (answer-only or step-by-step), asked
// for as plain text. The output is cut where it runs on into a new question ("Q:"), as the
// recording's few-shot prompt invited.
func (m *Model) recorded(req *chatRequest, pi promptInfo, rec int, known bool) (string, bool) {
	if !known || pi.mode == "" || pi.task != taskDirect || req.format != "text" {
		return "", false
	}
	text, ok := m.k.entries[rec].rec.Recorded[pi.mode]
	if !ok {
		return "", false
	}
	return cutRunOn(text), true
}

// cutRunOn cuts a recorded output where it starts a new "Q:" after its answer.
func cutRunOn(s string) string {
	for _, sep := range []string{"\nQ:", "\n\nQ:"} {
		if i := strings.Index(s, sep); i > 0 {
			s = s[:i]
		}
	}
	if i := strings.Index(s, " Q: "); i > 0 {
		s = s[:i]
	}
	return strings.TrimSpace(s)
}

// sample draws the content of one choice: which answer, right or wrong, and whether it complies
// with the requested format.
func (m *Model) sample(key uint64, req *chatRequest, pi promptInfo, rec int, known bool) truth {
	t := truth{task: pi.task}
	errR := newRand(key, 1)
	fmtR := newRand(key, 2)
	t.compliant = fmtR.Float64() < m.p.compliance[pi.complianceLevel()]
	if !known {
		t.task = demoteExtract(t.task)
		m.unknown(&t, newRand(key, 3), pi)
		return t
	}
	e := &m.k.entries[rec]
	var facts []fact
	if pi.task == taskExtract && e.rec.Extraction == "" {
		if facts = statedFacts(e.rec.Program); len(facts) == 0 {
			// Nothing to extract from: no reference program, or one that states no quantity.
			// Answered as a direct question, as before extraction was modelled.
			pi.task, t.task = taskDirect, taskDirect
		}
	}
	if pi.task == taskProgram && e.rec.Program == "" {
		// No reference program (GSM8K, BBH): the simulator cannot write a correct one, so the
		// request is answered as for an unknown question.
		m.unknown(&t, newRand(key, 3), pi)
		return t
	}
	t.known, t.record = true, rec
	t.textual = pi.task == taskDirect && !e.rec.Numeric()

	var pErr0, shared float64
	switch {
	case pi.task == taskExtract && e.rec.Extraction != "":
		pErr0, shared = m.p.programError(e.extractSteps), m.p.spec.Program.SharedErrorFraction
	case pi.task == taskProgram || pi.task == taskExtract:
		pErr0, shared = m.p.programError(e.steps), m.p.spec.Program.SharedErrorFraction
	default:
		pErr0, shared = 1-m.p.directAccuracy(e.digits), m.p.spec.Direct.SharedErrorFraction
	}
	// The systematic part: a question is "hard" for this profile (and server seed) with
	// probability shared*pErr0, and then every sample fails it the same way, whatever the prompt
	// wording, seed or temperature. The rest of the error is drawn per sample, so that the
	// marginal error rate stays pErr.
	qR := newRand(streamQuestion, m.p.spec.Seed, m.seed, hashString(e.norm), uint64(pi.task))
	h := shared * pErr0
	hard := qR.Float64() < h
	pErr := min(1, pErr0+m.p.spec.Sampling.TemperatureErrorSlope*req.temperature)
	wrong := hard
	if !hard && h < 1 {
		wrong = errR.Float64() < (pErr-h)/(1-h)
	}
	if !wrong {
		t.correct, t.value, t.program, t.text = true, e.rec.Target, e.rec.Program, e.rec.TargetText
		if pi.task == taskExtract {
			t.text = factsJSON(facts)
			if e.rec.Extraction != "" {
				t.text = e.rec.Extraction
			}
		}
		return t
	}
	t.shared = hard
	r := errR
	if hard {
		r = qR
	}
	if pi.task == taskExtract {
		if e.rec.Extraction != "" {
			t.text = corruptExtraction(r, e.rec.Extraction)
		} else {
			t.text = factsJSON(corruptFacts(r, facts))
		}
		return t
	}
	if pi.task == taskProgram {
		t.program, t.corrupted = corruptProgram(r, e.rec.Program, m.p.corruptions)
		t.value = math.NaN() // unknown until the program is run
		return t
	}
	if t.textual {
		t.text = wrongText(r, e.rec.TargetText, e.rec.Input)
		return t
	}
	kind := m.p.wrongAnswers.kinds[m.p.wrongAnswers.pick(r)]
	t.value = nearMiss(r, e.rec.Target, kind, e.numbers)
	return t
}

// unknown fills a fluent but unreliable answer for a question the simulator does not know: the
// operands of the final user message combined by a random operation.
func (m *Model) unknown(t *truth, r *rand.Rand, pi promptInfo) {
	nums := numbersIn(pi.lastUser)
	var a, b float64
	switch len(nums) {
	case 0:
		a, b = float64(1+r.IntN(100)), 1
	case 1:
		a, b = nums[0], float64(2+r.IntN(11))
	default:
		i := r.IntN(len(nums))
		j := (i + 1 + r.IntN(len(nums)-1)) % len(nums)
		a, b = nums[i], nums[j]
	}
	ops := []string{"+", "-", "*", "/"}
	op := ops[r.IntN(len(ops))]
	if op == "/" && b == 0 {
		op = "*"
	}
	switch op {
	case "+":
		t.value = a + b
	case "-":
		t.value = a - b
	case "*":
		t.value = a * b
	default:
		t.value = a / b
	}
	if !finite(t.value) {
		t.value = a
	}
	if t.value != math.Trunc(t.value) {
		t.value = math.Round(t.value*100) / 100
	}
	t.program = fmt.Sprintf("def solution():\n    first_quantity = %s\n    second_quantity = %s\n    result = first_quantity %s second_quantity\n    return result",
		formatLiteral(math.Abs(a), a != math.Trunc(a)), formatLiteral(math.Abs(b), b != math.Trunc(b)), op)
}

// render writes the sample's text in the shape the request and the draw call for.
func (t truth) render(p Profile, pi promptInfo, req *chatRequest, key uint64, k *Knowledge) string {
	if t.task == taskExtract {
		if t.compliant || req.format == "json_object" || req.format == "json_schema" {
			return t.text
		}
		return "Here are the quantities:\n```json\n" + t.text + "\n```"
	}
	if t.textual {
		if req.format == "json_object" || req.format == "json_schema" {
			b, _ := json.Marshal(map[string]string{"answer": t.text})
			return string(b)
		}
		return renderText(newRand(key, 4), pi, t.text, t.compliant)
	}
	if req.format == "json_object" || req.format == "json_schema" {
		return renderJSON(t.task, t.value, t.program, req.schema)
	}
	r := newRand(key, 4)
	if t.task == taskProgram {
		return renderProgram(r, p, pi, t.program, t.compliant)
	}
	var operands []float64
	if t.known {
		operands = k.entries[t.record].numbers
	} else {
		operands = numbersIn(pi.lastUser)
	}
	return renderDirect(r, p, pi, t.value, operands, t.compliant)
}

// finish applies stop sequences and the token limit.
func finish(text string, stops []string, limit int) sampleOut {
	for _, s := range stops {
		if i := strings.Index(text, s); i >= 0 {
			text = text[:i]
		}
	}
	out := sampleOut{text: text, finish: "stop"}
	if limit > 0 && tokens(text) > limit {
		cut := limit * 4
		for cut > 0 && !utf8.RuneStart(text[cut]) {
			cut--
		}
		out.text, out.finish = text[:cut], "length"
	}
	out.tokens = tokens(out.text)
	return out
}
