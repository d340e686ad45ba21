// Package demo holds the pipelines of sgde demo: the GSM-Hard demo (split the data, compile
// against the in-process simulated student, print the baselines and two traces) and the suite
// of task families (compile and evaluate every family, write the table and the page). It also
// starts the in-process simulated student and opens a folder's runner, which sgde experiment
// shares.
//
// It sits just below cmd: it imports the compiler packages, the runtime and the simulator,
// and takes the runner assembly from the caller, so that the sandbox engine rules stay with
// the command. A setting or file the caller gave that is wrong is a *report.InputError.
package demo
