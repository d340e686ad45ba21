// Package report turns a compile into what a person reads: the baselines table (zero-shot,
// few-shot bootstrap and compiled plan on the same items), baselines.json and the self-contained
// HTML report, and it owns the layout of a compile's output folder beyond the compiler's own
// checkpoint files. It runs plans only through the compiler's evaluator.
package report
