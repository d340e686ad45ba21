package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/trace"
)

const planText = `
apiVersion: sgde/v1
kind: Plan
metadata: {name: text}
inputs:
  - {name: question, type: string}
output: say
nodes:
  - id: say
    substrate: llm
    llm:
      prompt: "Q: {{ inputs.question }}"
      parser: {type: text}
`

// TestRunOne: strings print as they are, other values as JSON; the trace goes to the traces
// file and the tree for failed runs too, and a failed run prints no output.
func TestRunOne(t *testing.T) {
	tests := []struct {
		name, plan, reply string
		in                map[string]any
		wantOut           string
		wantErr           string
	}{
		{"number as JSON", planLinear, "The answer is 21.", map[string]any{"question": "q"}, "42\n", ""},
		{"string as it is", planText, "hello \"world\"", map[string]any{"question": "q"}, "hello \"world\"\n", ""},
		{"missing input", planLinear, "1", map[string]any{}, "", "question"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prog, err := newRunner(t, constant(tt.reply), 1).Prepare(mustPlan(t, tt.plan))
			if err != nil {
				t.Fatal(err)
			}
			var out, tree, traces bytes.Buffer
			err = prog.RunOne(context.Background(), tt.in, &out, runtime.OneOptions{Traces: trace.NewWriter(&traces), Tree: &tree})
			if tt.wantErr != "" {
				var ne *runtime.NodeError
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) || !errors.As(err, &ne) {
					t.Fatalf("RunOne error %v, want a *NodeError with %q", err, tt.wantErr)
				}
			} else if err != nil {
				t.Fatal(err)
			}
			if out.String() != tt.wantOut {
				t.Errorf("output %q, want %q", out.String(), tt.wantOut)
			}
			if !strings.Contains(tree.String(), "▶ run") || strings.Count(traces.String(), "\n") != 1 {
				t.Errorf("tree %q, traces %q: want one tree and one trace line", tree.String(), traces.String())
			}
		})
	}
}
