package runtime_test

const planLinear = `
apiVersion: sgde/v1
kind: Plan
metadata: {name: linear}
inputs:
  - {name: question, type: string}
output: double.y
nodes:
  - id: solve
    substrate: llm
    retries: 1
    llm:
      prompt: "Q: {{ inputs.question }}"
      parser: {type: number}
  - id: double
    substrate: code
    code:
      source: "// double\npackage main\n"
      inputs: {x: solve}
      outputs: {y: number}
`

const planConsensus = `
apiVersion: sgde/v1
kind: Plan
metadata: {name: voted}
inputs:
  - {name: question, type: string}
output: vote
nodes:
  - id: solve
    substrate: llm
    llm:
      prompt: "Q: {{ inputs.question }}"
      parser: {type: number}
  - id: vote
    substrate: consensus
    consensus:
      members: [solve]
      over: solve
      n: 5
      perturbations:
        seeds: [0, 1, 2, 3, 4]
        prompt_variants: ["Answer with a number.", "Think step by step."]
      vote: {method: plurality, tie_break: first, normalize: number}
`
