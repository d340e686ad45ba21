// Package task reads compile tasks: which plan to start from, how data records map onto its
// inputs and label, and how an output is scored. Records are read by the runtime's item reader,
// so that a task's data and `sgde eval`'s data are read the same way; it must not run plans.
package task
