//go:build !race

package wasm

// raceEnabled reports a -race test binary (race_test.go).
const raceEnabled = false
