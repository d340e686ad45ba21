package edit

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const good = `{"critique":{"answer":"multiplies wrong"},"candidates":[{"rationale":"r","edits":[{"action":"consensus","node":"answer","n":3,"vote":{"method":"plurality"}}]}]}`

func TestParse(t *testing.T) {
	tests := []struct {
		name     string
		reply    string
		allowed  []Action
		wantErr  string
		wantEdit Action
	}{
		{"plain", good, nil, "", Consensus},
		{"fenced with prose", "Sure! Here is my answer:\n```json\n" + good + "\n```\nHope it helps {not json}.", nil, "", Consensus},
		{"think block", "<think>maybe {\"candidates\": []} no</think>\n" + good, nil, "", Consensus},
		{"dangling close think", "reasoning...</think>" + good, nil, "", Consensus},
		{"close think after invalid UTF-8", "\xdf</THINK>" + good, nil, "", Consensus},
		{"draft then final fence", "```json\n{\"broken\": \n```\n```json\n" + good + "\n```", nil, "", Consensus},
		{"bare edits", `{"critique":{"a":"x"},"edits":[{"action":"refine_prompt","node":"answer","prompt":"p"}]}`, nil, "", RefinePrompt},
		{"braces in strings", `noise { "critique": {"a": "use } and {"}, "candidates":[{"edits":[{"action":"refine_prompt","node":"a","prompt":"{x}"}]}]}`, nil, "", RefinePrompt},
		{"no json", "I cannot help with that.", nil, "no JSON object", ""},
		{"truncated", `{"candidates":[{"edits":[{"action":"consensus"`, nil, "no JSON object", ""},
		{"unknown field", `{"candidates":[{"edits":[{"action":"consensus","node":"a","n":3,"vote":{"method":"plurality"},"colour":"red"}]}]}`, nil, "unknown field", ""},
		{"wrong type", `{"candidates":[{"edits":[{"action":"consensus","node":"a","n":"three"}]}]}`, nil, "cannot unmarshal", ""},
		{"schema ranges", `{"candidates":[{"edits":[{"action":"consensus","node":"a","n":1}]}]}`, nil, "candidates[0].edits[0].n: must be between 2 and 15", ""},
		{"no candidates", `{"critique":{}}`, nil, "at least one candidate", ""},
		{"action not allowed", good, []Action{Offload}, `"consensus" is not allowed`, ""},
		{"unknown action", `{"candidates":[{"edits":[{"action":"delete_everything","node":"a"}]}]}`, nil, "unknown \"delete_everything\"", ""},
		{"too long", strings.Repeat(" ", MaxReplyBytes+1), nil, "exceeds", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r, err := Parse(tt.reply, tt.allowed)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want %q", err, tt.wantErr)
				}
				var se *SchemaError
				if !errors.As(err, &se) && !errors.Is(err, ErrNoJSON) {
					t.Fatalf("error %v is neither a SchemaError nor ErrNoJSON", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := r.Candidates[0].Edits[0].Action; got != tt.wantEdit {
				t.Fatalf("first edit = %q, want %q", got, tt.wantEdit)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{good, "```json\n" + good + "\n```", "<think>{</think>{}", `{"edits":[{}]}`, "{{{{", `{"candidates":[{"edits":[{"action":"split","node":"a","into":[{"id":"x"}]}]}]}`} {
		f.Add(s)
	}
	// The route replies of the golden test: nested edits and classifiers to mutate.
	replies, _ := filepath.Glob("testdata/route/*.txt")
	for _, r := range replies {
		if b, err := os.ReadFile(r); err == nil {
			f.Add(string(b))
		}
	}
	f.Fuzz(func(t *testing.T, s string) {
		r, err := Parse(s, Actions())
		if err == nil && (r == nil || len(r.Candidates) == 0) {
			t.Fatalf("nil error with no candidates for %q", s)
		}
		if r != nil && err == nil {
			for _, c := range r.Candidates {
				// Applying whatever parsed must never panic either.
				_, _ = Apply(zeroShot(), c.Edits...)
			}
		}
	})
}
