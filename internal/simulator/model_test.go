package simulator

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
)

const (
	directPrompt  = "Solve the problem. Respond with only the number.\n\n"
	programPrompt = "Write a Python program def solution() that returns the answer. Return the program in a ```python block.\n\n"
)

func newModel(t testing.TB, profile string, seed uint64) *Model {
	t.Helper()
	return &Model{k: slice(t), p: mustProfile(t, profile), seed: seed}
}

func request(content string, n int, temp float64, seed *int64) *chatRequest {
	return &chatRequest{model: "m", messages: []message{{"user", content}}, n: n, temperature: temp, seed: seed, format: "text"}
}

func seedOf(v int64) *int64 { return &v }

func generateOK(t testing.TB, m *Model, req *chatRequest, nonce uint64) generation {
	t.Helper()
	g, e := m.generate(req, nonce)
	if e != nil {
		t.Fatalf("generate: %v", e)
	}
	return g
}

// within fails unless observed rate is within 4 standard errors (plus slack) of want.
func within(t *testing.T, what string, got, want float64, n int) {
	t.Helper()
	tol := 4*math.Sqrt(want*(1-want)/float64(n)) + 0.005
	if math.Abs(got-want) > tol {
		t.Errorf("%s: observed %.4f over %d draws, want %.4f ± %.4f", what, got, n, want, tol)
	} else {
		t.Logf("%s: observed %.4f over %d draws, want %.4f ± %.4f", what, got, n, want, tol)
	}
}

// recordWithDigits returns the first record whose largest operand has the given digits (or more
// when atLeast).
func recordWithDigits(t testing.TB, k *Knowledge, pred func(int) bool) int {
	for i, e := range k.entries {
		if pred(e.digits) {
			return i
		}
	}
	t.Fatal("no record with the wanted digit count")
	return -1
}

func TestDeterminism(t *testing.T) {
	m := newModel(t, "slm-1.5b", 1)
	k := m.k
	texts := func(g generation) []string {
		var out []string
		for _, c := range g.choices {
			out = append(out, c.text)
		}
		return out
	}
	q := directPrompt + k.Record(5).Input
	t.Run("same seeded request, same answers", func(t *testing.T) {
		a := texts(generateOK(t, m, request(q, 8, 0.8, seedOf(42)), 0))
		b := texts(generateOK(t, m, request(q, 8, 0.8, seedOf(42)), 0))
		if fmt.Sprint(a) != fmt.Sprint(b) {
			t.Fatalf("same request gave %q then %q", a, b)
		}
	})
	t.Run("temperature 0 ignores seed and choice index", func(t *testing.T) {
		for i := range 20 {
			g := texts(generateOK(t, m, request(k.Record(i).Input, 4, 0, seedOf(int64(i))), 0))
			g2 := texts(generateOK(t, m, request(k.Record(i).Input, 1, 0, seedOf(int64(i+1000))), 0))
			for _, s := range g {
				if s != g2[0] {
					t.Fatalf("record %d at temperature 0 gave %q and %q", i, s, g2[0])
				}
			}
		}
	})
	t.Run("sampling varies with seed and choice", func(t *testing.T) {
		distinct := map[string]bool{}
		for s := range 10 {
			for _, txt := range texts(generateOK(t, m, request(q, 4, 0.8, seedOf(int64(s))), 0)) {
				distinct[txt] = true
			}
		}
		if len(distinct) < 5 {
			t.Fatalf("40 samples at temperature 0.8 gave only %d distinct answers", len(distinct))
		}
	})
	t.Run("unseeded sampling follows the nonce", func(t *testing.T) {
		a := texts(generateOK(t, m, request(q, 8, 0.8, nil), 1))
		b := texts(generateOK(t, m, request(q, 8, 0.8, nil), 3))
		if fmt.Sprint(a) == fmt.Sprint(b) {
			t.Fatalf("different nonces gave identical samples %q", a)
		}
	})
	t.Run("server seed selects the instance", func(t *testing.T) {
		same := 0
		for i := range 50 {
			r := request(directPrompt+k.Record(i).Input, 1, 0, nil)
			a := generateOK(t, newModel(t, "slm-1.5b", 1), r, 0).choices[0].text
			b := generateOK(t, newModel(t, "slm-1.5b", 2), r, 0).choices[0].text
			if a == b {
				same++
			}
		}
		if same == 50 {
			t.Fatal("server seeds 1 and 2 answered 50 questions identically")
		}
	})
}

// TestErrorRates checks each profile's per-sample error rates over 1,000 independent draws
// (1,000 server seeds: each draw is a fresh simulated model instance, so the systematic and the
// per-sample parts of the error both count).
func TestErrorRates(t *testing.T) {
	const draws, temp = 1000, 0.7
	k := slice(t)
	small := recordWithDigits(t, k, func(d int) bool { return d <= 2 })
	big := recordWithDigits(t, k, func(d int) bool { return d >= 7 })
	for _, name := range []string{"slm-1.5b", "slm-7b"} {
		p := mustProfile(t, name)
		slope := p.spec.Sampling.TemperatureErrorSlope * temp
		cases := []struct {
			what   string
			rec    int
			prompt string
			want   float64
		}{
			{"direct, small operands", small, directPrompt, 1 - p.directAccuracy(k.entries[small].digits) + slope},
			{"direct, big operands", big, directPrompt, 1 - p.directAccuracy(k.entries[big].digits) + slope},
			{"program", big, programPrompt, p.programError(k.entries[big].steps) + slope},
		}
		for _, c := range cases {
			t.Run(name+"/"+c.what, func(t *testing.T) {
				wrong, shared := 0, 0
				for s := range draws {
					m := &Model{k: k, p: p, seed: uint64(s)}
					tr := generateOK(t, m, request(c.prompt+k.Record(c.rec).Input, 1, temp, seedOf(9)), 0).choices[0].truth
					if !tr.known || tr.record != c.rec {
						t.Fatalf("question not recognised: %+v", tr)
					}
					if !tr.correct {
						wrong++
						if tr.shared {
							shared++
						}
					}
				}
				within(t, "error rate", float64(wrong)/draws, c.want, draws)
				sf := p.spec.Direct.SharedErrorFraction
				if c.prompt == programPrompt {
					sf = p.spec.Program.SharedErrorFraction
				}
				within(t, "systematic error rate", float64(shared)/draws, sf*(c.want-slope), draws)
			})
		}
	}
}

// majority returns the most common key, and whether it is strictly the most common.
func majority(keys []string) (string, bool) {
	count := map[string]int{}
	best, bestN, tie := "", 0, false
	for _, k := range keys {
		count[k]++
	}
	for k, n := range count {
		switch {
		case n > bestN:
			best, bestN, tie = k, n, false
		case n == bestN:
			tie = true
		}
	}
	return best, !tie
}

// TestConsensus checks that voting over 5 samples helps exactly as much as the profile's error
// independence allows: it removes most per-sample errors but none of the systematic ones.
func TestConsensus(t *testing.T) {
	k := slice(t)
	const n, temp = 5, 0.7
	for _, name := range []string{"slm-1.5b", "slm-7b"} {
		p := mustProfile(t, name)
		for _, mode := range []string{"program", "direct"} {
			t.Run(name+"/"+mode, func(t *testing.T) {
				var single, vote, ceiling float64
				total := 0
				for seed := range 3 {
					m := &Model{k: k, p: p, seed: uint64(seed)}
					for i, e := range k.entries {
						prompt := programPrompt
						pErr0 := p.programError(e.steps)
						h := pErr0 * p.spec.Program.SharedErrorFraction
						if mode == "direct" {
							if e.digits > 2 {
								continue // the small-operand questions, where voting has room to help
							}
							prompt = directPrompt
							pErr0 = 1 - p.directAccuracy(e.digits)
							h = pErr0 * p.spec.Direct.SharedErrorFraction
						}
						g := generateOK(t, m, request(prompt+e.rec.Input, n, temp, seedOf(int64(i))), 0)
						var keys []string
						for _, c := range g.choices {
							keys = append(keys, c.truth.program+"|"+formatNumber(c.truth.value))
							if c.truth.correct {
								single++
							}
						}
						win, ok := majority(keys)
						ref := e.rec.Program + "|" + formatNumber(e.rec.Target)
						if mode == "program" {
							ref = e.rec.Program + "|NaN"
							ref = strings.TrimSuffix(ref, "|NaN") + "|" + formatNumber(e.rec.Target)
						}
						if ok && win == ref {
							vote++
						}
						ceiling += 1 - h
						total++
					}
				}
				single /= float64(total * n)
				vote /= float64(total)
				ceiling /= float64(total)
				t.Logf("%d questions: single-sample accuracy %.3f, majority of %d %.3f, ceiling 1 - systematic error %.3f", total, single, n, vote, ceiling)
				if vote <= single+0.02 {
					t.Errorf("voting did not help: %.3f vs single %.3f", vote, single)
				}
				if vote > ceiling+0.015 {
					t.Errorf("voting beat the systematic-error ceiling: %.3f > %.3f", vote, ceiling)
				}
				if vote < ceiling-0.05 {
					t.Errorf("voting fell well short of the ceiling: %.3f < %.3f", vote, ceiling)
				}
				if vote >= 1 {
					t.Errorf("voting reached 100%%: systematic errors must survive it")
				}
			})
		}
	}
}

// TestCalibration pins the slice-level figures docs/SIMULATOR.md states and argues.
func TestCalibration(t *testing.T) {
	k := slice(t)
	tests := []struct {
		profile                   string
		directMean, progAcc, ceil float64
	}{
		// direct: 0.31 x GSM8K accuracy (PAL's CoT GSM-Hard/GSM8K ratio, 20.1/65.6).
		{"slm-1.5b", 0.31 * 0.732, 0.86, 0.99},
		{"slm-7b", 0.31 * 0.916, 0.94, 0.994},
	}
	for _, tc := range tests {
		p := mustProfile(t, tc.profile)
		var d, pe, h float64
		for _, e := range k.entries {
			d += p.directAccuracy(e.digits)
			pe += p.programError(e.steps)
			h += p.programError(e.steps) * p.spec.Program.SharedErrorFraction
		}
		N := float64(k.Len())
		if got := d / N; math.Abs(got-tc.directMean) > 0.02 {
			t.Errorf("%s: mean direct accuracy on the slice %.3f, want %.3f ± 0.02", tc.profile, got, tc.directMean)
		}
		if got := 1 - pe/N; math.Abs(got-tc.progAcc) > 0.01 {
			t.Errorf("%s: mean program accuracy %.3f, want %.3f ± 0.01", tc.profile, got, tc.progAcc)
		}
		if got := 1 - h/N; math.Abs(got-tc.ceil) > 0.003 {
			t.Errorf("%s: consensus ceiling %.4f, want %.3f ± 0.003", tc.profile, got, tc.ceil)
		}
	}
}

func TestComplianceRates(t *testing.T) {
	const draws = 1000
	k := slice(t)
	q := k.Record(7).Input
	prompts := map[string][]message{
		"none":        {{"user", q}},
		"instruction": {{"user", q + "\nAnswer: <number>"}},
		"example":     {{"user", "Q: 2 apples and 2 more?"}, {"assistant", "Answer: 4"}, {"user", q}},
		"both":        {{"system", "End with the line Answer: <number>"}, {"user", "Q: 1+1?"}, {"assistant", "Answer: 2"}, {"user", q}},
	}
	for _, name := range []string{"slm-1.5b", "slm-7b"} {
		m := newModel(t, name, 0)
		for lvl, msgs := range prompts {
			t.Run(name+"/"+lvl, func(t *testing.T) {
				ok := 0
				for s := range draws {
					req := &chatRequest{model: "m", messages: msgs, n: 1, temperature: 1, seed: seedOf(int64(s)), format: "text"}
					c := generateOK(t, m, req, 0).choices[0]
					want := fmt.Sprintf("Answer: %s", formatNumber(c.truth.value))
					if lvl == "none" {
						want = formatNumber(c.truth.value)
					}
					if c.truth.compliant {
						ok++
						if c.text != want {
							t.Fatalf("compliant answer %q, want %q", c.text, want)
						}
					} else if c.text == want {
						t.Fatalf("non-compliant answer has the requested shape %q", c.text)
					}
				}
				within(t, "compliance", float64(ok)/draws, m.p.compliance[indexOf(complianceLevels, lvl)], draws)
			})
		}
	}
}

func TestNearMissAlwaysWrong(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	values := []float64{0, 1, -1, 0.5, 2.25, 9, 10, 99, 1e6, -9867630, 3431580, 1.0 / 3, 1e17, 123456.789}
	for _, v := range values {
		for _, kind := range wrongAnswerKinds {
			for range 200 {
				w := nearMiss(r, v, kind, []float64{v, 3})
				if !differs(w, v) || math.IsNaN(w) || math.IsInf(w, 0) {
					t.Fatalf("nearMiss(%v, %s) = %v: not a wrong finite number", v, kind, w)
				}
			}
		}
	}
}

func TestCorruptedProgramsDiffer(t *testing.T) {
	k := slice(t)
	r := rand.New(rand.NewPCG(3, 4))
	for _, kind := range corruptionKinds {
		only := weights{kinds: corruptionKinds, w: make([]float64, len(corruptionKinds)), total: 1}
		only.w[indexOf(corruptionKinds, kind)] = 1
		applied := 0
		for i := range k.Len() {
			ref := k.Record(i).Program
			for range 3 {
				got, c := corruptProgram(r, ref, only)
				if got == ref {
					t.Fatalf("record %d: %s corruption left the program unchanged", i, kind)
				}
				if !strings.HasPrefix(got, "def solution():\n") || !strings.Contains(got, "return") {
					t.Fatalf("record %d: corruption broke the program's frame:\n%s", i, got)
				}
				if c.kind == kind {
					applied++
				}
				gl, rl := strings.Split(got, "\n"), strings.Split(ref, "\n")
				switch c.kind {
				case "dropped_line":
					if len(gl) != len(rl)-1 && c.line != len(rl) {
						t.Fatalf("record %d: dropped_line changed %d lines to %d", i, len(rl), len(gl))
					}
				default:
					diff := 0
					for j := range min(len(gl), len(rl)) {
						if gl[j] != rl[j] {
							diff++
						}
					}
					if len(gl) != len(rl) || diff != 1 {
						t.Fatalf("record %d: %s changed %d lines:\n%s", i, c.kind, diff, got)
					}
				}
			}
		}
		if applied < k.Len()*3*8/10 {
			t.Errorf("%s applied to only %d of %d programs", kind, applied, k.Len()*3)
		}
	}
}

func TestUnknownQuestion(t *testing.T) {
	m := newModel(t, "slm-1.5b", 0)
	values := map[float64]bool{}
	for s := range 50 {
		c := generateOK(t, m, request("A farmer has 12 cows and buys 7 more. How many cows?", 1, 1, seedOf(int64(s))), 0).choices[0]
		if c.truth.known {
			t.Fatal("unknown question recognised")
		}
		if strings.TrimSpace(c.text) == "" || math.IsNaN(c.truth.value) {
			t.Fatalf("empty or NaN answer %q", c.text)
		}
		values[c.truth.value] = true
	}
	if len(values) < 3 {
		t.Fatalf("unknown question got only %d distinct answers over 50 samples: not unreliable", len(values))
	}
	g := generateOK(t, m, request("Write a Python program: a farmer has 12 cows and buys 7 more.", 1, 0, nil), 0)
	if !strings.Contains(g.choices[0].text, "def solution():") {
		t.Fatalf("unknown program request got %q", g.choices[0].text)
	}
}

func TestJSONResponses(t *testing.T) {
	m := newModel(t, "slm-1.5b", 0)
	k := m.k
	tests := []struct {
		name   string
		prompt string
		format string
		schema string
		check  func(map[string]any) error
	}{
		{"json_object direct", directPrompt, "json_object", "", func(o map[string]any) error {
			if _, ok := o["answer"].(float64); !ok {
				return fmt.Errorf("no numeric answer")
			}
			return nil
		}},
		{"json_object program", programPrompt, "json_object", "", func(o map[string]any) error {
			if s, _ := o["program"].(string); !strings.HasPrefix(s, "def solution") {
				return fmt.Errorf("no program")
			}
			return nil
		}},
		{"schema with reasoning and integer result", directPrompt, "json_schema",
			`{"type":"object","properties":{"reasoning":{"type":"string"},"result":{"type":"integer"}},"required":["reasoning","result"]}`,
			func(o map[string]any) error {
				if _, ok := o["reasoning"].(string); !ok {
					return fmt.Errorf("reasoning missing")
				}
				if v, ok := o["result"].(float64); !ok || v != math.Trunc(v) {
					return fmt.Errorf("result not an integer")
				}
				return nil
			}},
		{"schema with code property", programPrompt, "json_schema",
			`{"type":"object","properties":{"code":{"type":"string"}},"required":["code"]}`,
			func(o map[string]any) error {
				if s, _ := o["code"].(string); !strings.Contains(s, "return") {
					return fmt.Errorf("code missing")
				}
				return nil
			}},
		{"schema with string answer", directPrompt, "json_schema",
			`{"type":"object","properties":{"answer":{"type":["string","null"]}}}`,
			func(o map[string]any) error {
				if _, ok := o["answer"].(string); !ok {
					return fmt.Errorf("answer not a string")
				}
				return nil
			}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req := request(tc.prompt+k.Record(11).Input+" Reply in JSON.", 3, 0.9, seedOf(1))
			req.format = tc.format
			if tc.schema != "" {
				s, e := parseSchema(json.RawMessage(tc.schema))
				if e != nil {
					t.Fatal(e)
				}
				req.schema = s
			}
			for _, c := range generateOK(t, m, req, 0).choices {
				var o map[string]any
				if err := json.Unmarshal([]byte(c.text), &o); err != nil {
					t.Fatalf("not a JSON object: %q", c.text)
				}
				if err := tc.check(o); err != nil {
					t.Fatalf("%v in %s", err, c.text)
				}
			}
		})
	}
}

func TestLimits(t *testing.T) {
	m := newModel(t, "slm-1.5b", 0)
	q := programPrompt + m.k.Record(20).Input
	t.Run("max tokens truncates", func(t *testing.T) {
		req := request(q, 2, 0, nil)
		req.maxTokens = 7
		for _, c := range generateOK(t, m, req, 0).choices {
			if c.finish != "length" || c.tokens > 7 || len(c.text) > 28 {
				t.Fatalf("finish=%s tokens=%d text=%q", c.finish, c.tokens, c.text)
			}
		}
	})
	t.Run("stop sequence", func(t *testing.T) {
		req := request(q, 1, 0, nil)
		req.stops = []string{"return"}
		c := generateOK(t, m, req, 0).choices[0]
		if strings.Contains(c.text, "return") || c.finish != "stop" {
			t.Fatalf("stop not applied: %q", c.text)
		}
	})
	t.Run("context window", func(t *testing.T) {
		req := request(strings.Repeat("word ", 40000), 1, 0, nil)
		if _, e := m.generate(req, 0); e == nil || e.Code == nil || *e.Code != "context_length_exceeded" {
			t.Fatalf("err = %v, want context_length_exceeded", e)
		}
	})
	t.Run("unicode truncation stays valid", func(t *testing.T) {
		out := finish(strings.Repeat("é", 100), nil, 3)
		if !strings.HasPrefix(strings.Repeat("é", 100), out.text) || len(out.text)%2 != 0 {
			t.Fatalf("cut inside a rune: %q", out.text)
		}
	})
}
