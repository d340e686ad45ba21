package simulator

import (
	"context"
	"path/filepath"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"
)

// bbh loads every BBH family the repository ships as one knowledge base.
func bbh(t testing.TB) *Knowledge {
	t.Helper()
	files, err := filepath.Glob("../../testdata/bbh/*.jsonl")
	if err != nil || len(files) != 10 {
		t.Fatalf("BBH files: %v %v", files, err)
	}
	k, err := LoadKnowledgeFiles(files...)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestLoadBBHAndGSM8K(t *testing.T) {
	k := bbh(t)
	if k.Len() != 1500 || k.Duplicates() != 0 || k.WithRecorded() != 1500 || k.WithoutProgram() != 1500 {
		t.Fatalf("BBH: len %d dup %d recorded %d no program %d", k.Len(), k.Duplicates(), k.WithRecorded(), k.WithoutProgram())
	}
	// Every item is recognised as itself, including boolean expressions that differ only in
	// their brackets.
	for i := range k.Len() {
		r := k.Record(i)
		if j, ok := k.Find("Q: " + r.Input + "\nA:"); !ok || j != i {
			t.Fatalf("item %d (%q) found as %d %v", i, r.Input, j, ok)
		}
	}
	// Generated reference programs complete the recorded items instead of duplicating them.
	withProgs, err := LoadKnowledgeFiles("../../testdata/bbh/object_counting.jsonl", "../../testdata/bbh/programs/object_counting.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if withProgs.Len() != 150 || withProgs.WithoutProgram() != 0 || withProgs.WithRecorded() != 150 || withProgs.Duplicates() != 0 ||
		withProgs.Record(0).Program == "" || withProgs.Record(0).Recorded[ModeCoT] == "" {
		t.Fatalf("merged: len %d without program %d recorded %d dup %d", withProgs.Len(), withProgs.WithoutProgram(), withProgs.WithRecorded(), withProgs.Duplicates())
	}
	g, err := LoadKnowledgeFiles("../../testdata/gsm8k/slice.jsonl", "../../testdata/gsm-hard/slice.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if g.WithoutProgram() == 0 || g.WithoutProgram() == g.Len() || !g.Record(0).Numeric() {
		t.Fatalf("GSM8K+GSM-Hard: len %d without program %d", g.Len(), g.WithoutProgram())
	}
}

// chatOnce sends one request and returns the reply texts and the system fingerprint.
func chatOnce(t *testing.T, c *openai.Client, req openai.ChatCompletionRequest) ([]string, string) {
	t.Helper()
	resp, err := c.CreateChatCompletion(context.Background(), req)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, ch := range resp.Choices {
		out = append(out, ch.Message.Content)
	}
	return out, resp.SystemFingerprint
}

func TestRecordedMode(t *testing.T) {
	k := bbh(t)
	srv := startSim(t, NewConfig(k, DefaultProfile()).WithSeed(1))
	c := goClient(srv, "x")
	var rec Record
	for i := range k.Len() {
		if r := k.Record(i); strings.HasPrefix(r.Input, "Sort the following words") && r.Recorded[ModeDirect] != r.TargetText {
			rec = r // a recorded mistake: the simulator must return it, not the label
			break
		}
	}
	if rec.Input == "" {
		t.Fatal("no recorded mistake found")
	}
	user := func(s string) []openai.ChatCompletionMessage {
		return []openai.ChatCompletionMessage{{Role: "user", Content: s}}
	}
	tests := []struct {
		name   string
		msgs   []openai.ChatCompletionMessage
		format *openai.ChatCompletionResponseFormat
		mode   string // "" means simulated
	}{
		{"answer only", user("Answer the question. Reply with only the answer, nothing else.\n\nQ: " + rec.Input + "\nA:"), nil, ModeDirect},
		{"answer directly", user(rec.Input + "\n\nGive the answer directly, without explanation."), nil, ModeDirect},
		{"step by step", user("Q: " + rec.Input + "\nA: Let's think step by step."), nil, ModeCoT},
		{"show work", user("Solve this and show your reasoning.\n" + rec.Input), nil, ModeCoT},
		{"bare demonstration", []openai.ChatCompletionMessage{{Role: "user", Content: "Q: Sort: b a\nA:"}, {Role: "assistant", Content: "a b"}, {Role: "user", Content: "Q: " + rec.Input + "\nA:"}}, nil, ModeDirect},
		{"no cue", user(rec.Input), nil, ""},
		{"program", user("Write a Python program that solves this.\n" + rec.Input), nil, ""},
		{"extraction", user("Extract the list of words from the question. Reply with only the answer.\n" + rec.Input), nil, ""},
		{"json", user("Reply with only the answer as JSON.\n" + rec.Input), &openai.ChatCompletionResponseFormat{Type: openai.ChatCompletionResponseFormatTypeJSONObject}, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var first []string
			for _, temp := range []float32{1e-6, 0.7, 1.3} {
				for _, seed := range []int{1, 2} {
					req := openai.ChatCompletionRequest{Model: "slm-1.5b", Messages: tc.msgs, N: 3, Temperature: temp, Seed: &seed, ResponseFormat: tc.format}
					texts, fp := chatOnce(t, c, req)
					if want := map[bool]string{true: "+recorded", false: "+simulated"}[tc.mode != ""]; !strings.HasSuffix(fp, want) {
						t.Fatalf("fingerprint %q, want suffix %s", fp, want)
					}
					if tc.mode == "" {
						return
					}
					for _, s := range texts {
						if s != cutRunOn(rec.Recorded[tc.mode]) {
							t.Fatalf("temp %v seed %d: got %q, want the recorded %s output", temp, seed, s, tc.mode)
						}
					}
					if first == nil {
						first = texts
					}
				}
			}
		})
	}
}

func TestCutRunOn(t *testing.T) {
	for in, want := range map[string]string{
		"So the answer is (A).\n\nQ: next question": "So the answer is (A).",
		"So the answer is 4.\nQ: x":                 "So the answer is 4.",
		"  Yes  ":                                   "Yes",
		"Q: kept because it starts the reply":       "Q: kept because it starts the reply",
	} {
		if got := cutRunOn(in); got != want {
			t.Errorf("cutRunOn(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestSimulatedTextAnswers: outside the recorded modes, a non-numeric label is answered from the
// profile: right with about the direct accuracy, wrong answers in the label's own shape.
func TestSimulatedTextAnswers(t *testing.T) {
	k := bbh(t)
	m := &Model{k: k, p: DefaultProfile(), seed: 1}
	right, n := 0, 0
	for i := 0; i < k.Len(); i += 5 {
		r := k.Record(i)
		if r.Numeric() {
			continue
		}
		req := &chatRequest{messages: []message{{role: "user", content: r.Input}}, n: 1, temperature: 0, format: "text"}
		g, e := m.generate(req, 0)
		if e != nil {
			t.Fatal(e)
		}
		if g.recorded {
			t.Fatalf("item %d: recorded without a cue", i)
		}
		got := g.choices[0].truth.text
		if got == r.TargetText {
			right++
		} else if strings.HasPrefix(r.TargetText, "(") != strings.HasPrefix(got, "(") {
			t.Errorf("item %d: wrong answer %q not in the shape of %q", i, got, r.TargetText)
		}
		n++
	}
	if acc := float64(right) / float64(n); acc < 0.55 || acc > 0.9 {
		t.Errorf("simulated text accuracy %.2f over %d items, want near the profile's direct accuracy", acc, n)
	}
}
