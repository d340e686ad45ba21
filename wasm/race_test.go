//go:build race

package wasm

// raceEnabled: the race detector's shadow memory needs far more address space than the
// builder's RLIMIT_AS allows, so a test binary built with -race cannot serve as a fake compiler.
const raceEnabled = true
