package simulator

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	openai "github.com/sashabaranov/go-openai"
)

func TestStatedFacts(t *testing.T) {
	got := statedFacts("def solution():\n    lamps = 4\n    price = 2.5\n    total = lamps * price\n    big = 1_000\n    return total")
	want := []fact{{"lamps", "4"}, {"price", "2.5"}, {"big", "1000"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("facts %v, want %v", got, want)
	}
	if s := factsJSON(want); s != `{"lamps": 4, "price": 2.5, "big": 1000}` {
		t.Fatalf("json %s", s)
	}
	if len(statedFacts("")) != 0 {
		t.Fatal("facts from no program")
	}
}

// TestExtraction: an extraction request for an item with a reference program returns its stated
// quantities as JSON, simulated, wrong at the program error rate; without a program it is
// answered as a direct question.
func TestExtraction(t *testing.T) {
	k, err := LoadKnowledgeFiles("../../testdata/bbh/object_counting.jsonl", "../../testdata/bbh/programs/object_counting.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	srv := startSim(t, NewConfig(k, DefaultProfile()).WithSeed(1))
	c := goClient(srv, "x")
	ask := "List every item the question asks to count, with how many of it there are, as one JSON object. Reply with only the JSON object.\n\nQuestion: "
	right, total := 0, 0
	for i := range 40 {
		r := k.Record(i)
		want := map[string]float64{}
		for _, f := range statedFacts(r.Program) {
			var v float64
			fmt.Sscan(f.lit, &v)
			want[f.name] = v
		}
		seed := 1
		texts, fp := chatOnce(t, c, openai.ChatCompletionRequest{Model: "slm-1.5b", N: 5, Temperature: 0.7, Seed: &seed,
			Messages: []openai.ChatCompletionMessage{{Role: "user", Content: ask + r.Input}}})
		if !strings.HasSuffix(fp, "+simulated") {
			t.Fatalf("fingerprint %q: extraction must be simulated", fp)
		}
		for _, s := range texts {
			s = strings.TrimSuffix(s[strings.Index(s, "{"):], "\n```")
			var got map[string]float64
			if err := json.Unmarshal([]byte(s), &got); err != nil {
				t.Fatalf("item %d: reply %q is not a JSON object of counts", i, s)
			}
			total++
			if fmt.Sprint(got) == fmt.Sprint(want) {
				right++
			}
		}
	}
	// The program error rate of slm-1.5b on these short programs is 11-14% a sample, plus the
	// temperature slope: the share right must be in that neighbourhood, neither perfect nor poor.
	if rate := float64(right) / float64(total); rate < 0.75 || rate > 0.97 {
		t.Errorf("extractions right %d of %d (%.2f), want the program error rate's neighbourhood", right, total, rate)
	}
	// Without a reference program the request is answered as a direct question.
	bare := bbh(t)
	srv2 := startSim(t, NewConfig(bare, DefaultProfile()).WithSeed(1))
	seed := 1
	texts, _ := chatOnce(t, goClient(srv2, "x"), openai.ChatCompletionRequest{Model: "slm-1.5b", N: 1, Seed: &seed,
		Messages: []openai.ChatCompletionMessage{{Role: "user", Content: ask + k.Record(0).Input}}})
	if strings.Contains(texts[0], "{") {
		t.Errorf("no program, yet an extraction: %q", texts[0])
	}
}
