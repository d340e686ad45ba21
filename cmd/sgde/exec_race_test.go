//go:build race

package main

// execRaceEnabled reports a -race build, in which wazero compiles modules about ten times
// slower; the exec tests then warm the CLI's compilation cache from a process without -race.
const execRaceEnabled = true
