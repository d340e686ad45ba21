//go:build race

package sandbox_test

// raceEnabled reports a -race build: wazero compiles about ten times slower, so the tests warm
// the compilation cache from a non-race process first and run fewer repetitions.
const raceEnabled = true
