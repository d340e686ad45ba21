// Package compiler is SGDe: it improves a plan by greedy hill-climbing on held-out risk, asking a
// teacher for edits, testing new code nodes in the sandbox, and accepting a candidate only when
// a paired exact McNemar test says it is better. It sees plans, the runtime's traces and a
// metric, and scores plans through the runtime's evaluator; it must not reach into how the
// runtime calls the student or runs code. Reading tasks is package task's job, the baselines
// and the report package report's.
package compiler
