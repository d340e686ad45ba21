// Package runtime runs plans: it schedules independent nodes concurrently on a bounded pool,
// calls the student (through the response cache), runs code nodes in the sandbox, fans out and
// votes consensus nodes, records a trace of every run, and evaluates plans over data sets.
// It must not decide what a plan should be (that is the compiler) nor parse plan files.
package runtime
