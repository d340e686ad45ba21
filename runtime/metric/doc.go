// Package metric scores predictions against labels (numeric with a relative tolerance and the
// label's printed precision, or exact) and computes confidence intervals for accuracies. It is
// pure arithmetic: no I/O, no knowledge of plans.
package metric
