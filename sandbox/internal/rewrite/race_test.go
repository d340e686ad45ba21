//go:build race

package rewrite

// raceEnabled trims the slowest tests under -race: the spec suite to v1 (wazero compiles ~10,000
// modules for it) and the Go guest comparison to the all-passes pipeline. wazero is many times
// slower instrumented, and the race detector has nothing more to find there.
const raceEnabled = true
