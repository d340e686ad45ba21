package trace

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite golden files")

func sampleRun() *Run {
	raw, bad := "The answer is 42.", "I don't know"
	temp, seed := 0.7, int64(3)
	return &Run{
		ID: "17", Plan: "gsm", Start: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), LatencyMS: 12.5,
		Inputs: map[string]any{"question": "What is 6*7?"},
		Error:  `node "vote": no_consensus: no majority`, ErrorKind: "no_consensus", ErrorNode: "vote",
		Calls: 3, Tokens: Tokens{Prompt: 30, Completion: 6, Total: 36},
		Nodes: []*Node{
			{ID: "extract", Substrate: "code", LatencyMS: 0.4, Attempts: 1, Value: map[string]any{"n": json.Number("6")},
				Input: map[string]any{"q": "What is 6*7?"},
				Code:  &CodeUsage{Engine: "wazero", Digest: "sha256:0123456789abcdef0123", PeakMemoryBytes: 2 << 20, WallMS: 0.3}},
			{ID: "vote", Substrate: "consensus", LatencyMS: 11, Attempts: 1, Error: "no majority", ErrorKind: "no_consensus",
				Consensus: &Consensus{N: 2, Method: "majority", Over: "solve", Votes: []Vote{{Key: "42", Count: 1}},
					Samples: []Sample{
						{Index: 0, Value: json.Number("42"), Key: "42", Nodes: []*Node{{ID: "solve", Substrate: "llm", Attempts: 1, LatencyMS: 5,
							Prompt: []Message{{Role: "user", Content: "Q: What is 6*7?\nAnswer with a number."}}, Raw: &raw, Value: json.Number("42"),
							Calls: 1, Tokens: &Tokens{10, 2, 12}}}},
						{Index: 1, Perturbation: Perturbation{Temperature: &temp, Seed: &seed}, Error: "parse_failure: no number in the reply",
							Nodes: []*Node{{ID: "solve", Substrate: "llm", Attempts: 2, LatencyMS: 6, PriorErrors: []string{"no number in the reply"},
								Raw: &bad, ParseError: "no number in the reply", Error: "no number in the reply", ErrorKind: "parse_failure",
								Calls: 2, Tokens: &Tokens{20, 4, 24}}}},
					}}},
		},
	}
}

func TestRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	for range 3 {
		if err := w.Write(sampleRun()); err != nil {
			t.Fatal(err)
		}
	}
	// A torn last line, as left by a killed writer, is skipped.
	buf.WriteString(`{"id":"18","plan":"gs`)
	var got []*Run
	if err := Read(&buf, func(r *Run) error { got = append(got, r); return nil }); err != nil {
		t.Fatal(err)
	}
	if len(got) != 3 || got[0].ID != "17" || got[0].Nodes[1].Consensus.Samples[1].Nodes[0].ParseError == "" {
		t.Fatalf("read back %d runs: %+v", len(got), got)
	}
	if _, ok := got[0].Nodes[0].Value.(map[string]any)["n"].(json.Number); !ok {
		t.Error("numbers must read back as json.Number")
	}
}

func TestReadRejectsCorruptMiddle(t *testing.T) {
	data := "{\"plan\":\"a\"}\nnot json\n{\"plan\":\"b\"}\n"
	err := Read(strings.NewReader(data), func(*Run) error { return nil })
	if err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("err = %v, want an error naming line 2", err)
	}
}

func TestRenderGolden(t *testing.T) {
	for _, color := range []bool{false, true} {
		name := "render.txt"
		if color {
			name = "render_color.txt"
		}
		var buf bytes.Buffer
		if err := Render(&buf, sampleRun(), RenderOptions{Color: color}); err != nil {
			t.Fatal(err)
		}
		golden := filepath.Join("testdata", name)
		if *update {
			if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		want, err := os.ReadFile(golden)
		if err != nil {
			t.Fatalf("%v (run with -update to create)", err)
		}
		if buf.String() != string(want) {
			t.Errorf("render differs from %s (run with -update after checking):\n%s", golden, buf.String())
		}
		out := buf.String()
		if color != strings.Contains(out, "\x1b[31m") {
			t.Errorf("colour %v but ANSI red present = %v", color, !color)
		}
		if !color && (!strings.Contains(out, "✗ vote") || !strings.Contains(out, "parse error:")) {
			t.Errorf("failures not highlighted:\n%s", out)
		}
	}
}

func TestShow(t *testing.T) {
	var file bytes.Buffer
	w := NewWriter(&file)
	for _, id := range []string{"1", "2", "3"} {
		r := sampleRun()
		r.ID = id
		if id == "2" {
			r.Error, r.ErrorKind, r.ErrorNode = "", "", ""
		}
		if err := w.Write(r); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		opt  ShowOptions
		want []string // the run ids shown, in order
	}{
		{ShowOptions{}, []string{"1", "2", "3"}},
		{ShowOptions{Failed: true}, []string{"1", "3"}},
		{ShowOptions{ID: "2"}, []string{"2"}},
		{ShowOptions{ID: "2", Failed: true}, nil},
		{ShowOptions{ID: "9"}, nil},
	}
	for _, tt := range tests {
		var out bytes.Buffer
		if err := Show(&out, bytes.NewReader(file.Bytes()), tt.opt); err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range strings.Split(out.String(), "\n") {
			if f := strings.Fields(l); len(f) > 2 && f[0] == "▶" && f[1] == "run" {
				got = append(got, f[2])
			}
		}
		if strings.Join(got, ",") != strings.Join(tt.want, ",") {
			t.Errorf("Show(%+v) shows runs %v, want %v", tt.opt, got, tt.want)
		}
		if n := strings.Count(out.String(), "\n\n"); len(tt.want) > 0 && n != len(tt.want)-1 {
			t.Errorf("Show(%+v): %d blank lines between %d runs", tt.opt, n, len(tt.want))
		}
	}
	if err := Show(io.Discard, strings.NewReader("{\"plan\":\"a\"}\nnot json\n{\"plan\":\"b\"}\n"), ShowOptions{}); err == nil {
		t.Error("Show accepted a corrupt line")
	}
}
