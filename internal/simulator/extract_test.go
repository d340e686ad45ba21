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

// TestReferenceExtraction: an item whose knowledge carries a reference extraction gets it (or a
// corruption of it) for an extraction request, simulated, wrong at the program error rate of as
// many statements as the extraction has values plus one; the object's fields are not read.
func TestReferenceExtraction(t *testing.T) {
	k, err := LoadKnowledgeFiles("../../testdata/bbh/date_understanding.jsonl", "../../testdata/bbh/extractions/date_understanding.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	if k.WithExtraction() < 140 {
		t.Fatalf("%d records with an extraction, want the 142 the script derived", k.WithExtraction())
	}
	srv := startSim(t, NewConfig(k, DefaultProfile()).WithSeed(1))
	c := goClient(srv, "x")
	ask := "Extract, as one JSON object, the date the question states and the offsets to the date it asks for. Reply with only the JSON object.\n\nQuestion: "
	right, total, wrongErr := 0, 0, 0.0
	for i := 0; i < k.Len() && total < 200; i++ {
		r := k.Record(i)
		if r.Extraction == "" {
			continue
		}
		var want any
		if err := json.Unmarshal([]byte(r.Extraction), &want); err != nil {
			t.Fatal(err)
		}
		texts, fp := chatOnce(t, c, openai.ChatCompletionRequest{Model: "slm-1.5b", N: 1, Temperature: 1e-6,
			Messages: []openai.ChatCompletionMessage{{Role: "user", Content: ask + r.Input}}})
		if !strings.HasSuffix(fp, "+simulated") {
			t.Fatalf("fingerprint %q: extraction must be simulated", fp)
		}
		s := texts[0]
		s = strings.TrimSuffix(s[strings.Index(s, "{"):], "\n```")
		var got any
		if err := json.Unmarshal([]byte(s), &got); err != nil {
			t.Fatalf("item %d: reply %q is not a JSON object", i, s)
		}
		total++
		if fmt.Sprint(got) == fmt.Sprint(want) {
			right++
		}
		e := k.entries[i]
		wrongErr += DefaultProfile().programError(e.extractSteps)
	}
	// Greedy: the expected share right is 1 - mean(program error rate of values+1 statements).
	rate, want := float64(right)/float64(total), 1-wrongErr/float64(total)
	t.Logf("greedy extractions right %d of %d (%.2f), expected %.2f", right, total, rate, want)
	if total < 40 || rate < want-0.1 || rate > want+0.1 || rate == 1 {
		t.Errorf("greedy extractions right %d of %d (%.2f), want about %.2f", right, total, rate, want)
	}
}

func TestCorruptExtraction(t *testing.T) {
	const ref = `{"date":"07/29/2002","offsets":[{"days":-1},{"weeks":1}]}`
	seen := map[string]bool{}
	for s := range uint64(200) {
		got := corruptExtraction(newRand(s, 1), ref)
		if got == ref {
			t.Fatalf("seed %d: not corrupted", s)
		}
		var v map[string]any
		if err := json.Unmarshal([]byte(got), &v); err != nil {
			t.Fatalf("seed %d: %q is not a JSON object", s, got)
		}
		seen[got] = true
	}
	// Both kinds occur: a value left out (a shorter object) and a near miss (same length).
	dropped, slipped := false, false
	for s := range seen {
		if strings.Count(s, ":") < strings.Count(ref, ":") {
			dropped = true
		} else {
			slipped = true
		}
	}
	if !dropped || !slipped || len(seen) < 10 {
		t.Errorf("corruptions %d distinct, dropped %v, slipped %v: %v", len(seen), dropped, slipped, seen)
	}
	if c, n, err := parseExtraction([]byte(`{"b": [1, {"c": "x"}], "a": 2}`)); err != nil || c != `{"a":2,"b":[1,{"c":"x"}]}` || n != 3 {
		t.Errorf("parseExtraction = %q, %d, %v", c, n, err)
	}
	if _, _, err := parseExtraction([]byte(`[1]`)); err == nil {
		t.Error("a list is accepted as an extraction")
	}
	if _, err := ParseKnowledge(strings.NewReader(`{"input": "What is the date today in MM/DD/YYYY?", "target": "(A)", "extraction": "07/29/2002"}`)); err == nil {
		t.Error("a knowledge record with a string extraction loads")
	}
}

// FuzzCorruptExtraction: any reference extraction the loader accepts is corrupted into another
// JSON object (one with values always changes), without panicking.
func FuzzCorruptExtraction(f *testing.F) {
	for _, s := range []string{`{"date":"07/29/2002","offsets":[{"days":-1},{"weeks":1}]}`, `{"a":"x"}`, `{"a":[[]],"b":null}`,
		`{"n":1e400}`, `{"s":"99999999999999999999999"}`, `{}`, `{"a":{"b":{"c":[1,2,{"d":true}]}}}`} {
		f.Add(s, uint64(1))
	}
	f.Fuzz(func(t *testing.T, raw string, seed uint64) {
		canon, n, err := parseExtraction([]byte(raw))
		if err != nil {
			return
		}
		got := corruptExtraction(newRand(seed), canon)
		var v map[string]any
		if err := json.Unmarshal([]byte(got), &v); err != nil {
			t.Fatalf("%s -> %q: not a JSON object", canon, got)
		}
		if n > 0 && got == canon {
			t.Fatalf("%s (%d values) not corrupted", canon, n)
		}
	})
}
