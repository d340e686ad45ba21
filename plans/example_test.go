package plans_test

import (
	"fmt"

	"github.com/sgde-project/sgde/plans"
)

func ExampleParse() {
	src := `apiVersion: sgde/v1
kind: Plan
metadata: {name: demo}
inputs: [{name: question, type: string}]
output: answer
nodes:
  - id: answer
    substrate: llm
    llm:
      promt: "{{ inputs.question }}"
      parser: {type: number}
`
	_, err := plans.Parse([]byte(src), "demo.yaml")
	fmt.Println(err)
	// Output: demo.yaml:10: node "answer": unknown field "promt" (did you mean "prompt"?)
}

func ExampleRender() {
	lookup := func(r plans.Ref) (any, error) {
		return map[string]any{"inputs.question": "What is 6 * 7?"}[r.String()], nil
	}
	s, err := plans.Render("Q: {{ inputs.question }} Answer in {{{{braces}}.", lookup)
	fmt.Println(s, err)
	// Output: Q: What is 6 * 7? Answer in {{braces}}. <nil>
}

func ExampleParseOutput() {
	reply := "<think>40 + 2... or 41?</think>We add 1,000 and 234, so **the answer is $1,234**."
	v, err := plans.ParseOutput(plans.Parser{Type: plans.ParserNumber}, reply)
	fmt.Println(v, err)
	// Output: 1234 <nil>
}
