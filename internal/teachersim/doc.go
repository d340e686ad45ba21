// Package teachersim is a simulated frontier teacher: an OpenAI-compatible server that reads
// the compiler's real LLM-teacher request (the plan and the executions it was shown), tells
// from the questions in those traces what computation they need, and answers with edits whose
// Go code it writes, in the reply styles real models use. A seeded share of its replies carry
// the faults real models make (code that does not build, subtly wrong code, hostile code,
// malformed or over-long replies, edits naming missing nodes), so that the compiler's defences
// are tested end to end over HTTP.
//
// It never looks at a task's name or labels: the family is recognised from the questions.
// Its code is written for exercising the compiler, and its success says nothing about what a
// real model would propose.
package teachersim
