package runtime_test

import (
	"context"
	"fmt"
	"log"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
)

// echo is a stand-in student that always answers "The answer is 42."; in production the
// Student is an *llm.Client.
type echo struct{}

func (echo) Complete(context.Context, llm.Request) (llm.Response, error) {
	return llm.Response{Text: "The answer is 42.", Attempts: 1}, nil
}

// Example runs a one-node plan and reads its output and trace.
func Example() {
	plan, err := plans.Parse([]byte(`
apiVersion: sgde/v1
kind: Plan
metadata: {name: answer}
inputs: [{name: question, type: string}]
output: solve
nodes:
  - id: solve
    substrate: llm
    llm:
      prompt: "{{ inputs.question }}"
      parser: {type: number}
`), "answer.yaml")
	if err != nil {
		log.Fatal(err)
	}
	r, err := runtime.New(runtime.Options{Student: echo{}})
	if err != nil {
		log.Fatal(err)
	}
	res, err := r.Run(context.Background(), plan, map[string]any{"question": "What is 6*7?"})
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(res.Output, *res.Trace.Nodes[0].Raw)
	// Output: 42 The answer is 42.
}
