package sandbox

import "github.com/sgde-project/sgde/plans"

// Every default and ceiling of a call is package plans' (plans.DefaultFuel, DefaultMemoryMiB,
// DefaultMaxOutputBytes, DefaultCodeTimeout, MaxFuel, MaxMemoryMiB): a call with no limits runs
// under exactly what docs/PLANS.md promises a plan without limits, and a plan that validates is
// never refused by an engine for a limit.

// wasm32MaxMiB is the wasm32 address space: no engine configuration can exceed it.
const wasm32MaxMiB = 4096

// maxMessageBytes bounds the message of an error that carries guest-controlled text.
const maxMessageBytes = 2 << 10

// withDefaults returns l with every zero field replaced by its default.
func (l Limits) withDefaults() Limits {
	if l.Fuel == 0 {
		l.Fuel = plans.DefaultFuel
	}
	if l.MemoryMiB == 0 {
		l.MemoryMiB = plans.DefaultMemoryMiB
	}
	if l.MaxOutputBytes <= 0 {
		l.MaxOutputBytes = plans.DefaultMaxOutputBytes
	}
	if l.Timeout <= 0 {
		l.Timeout = plans.DefaultCodeTimeout
	}
	return l
}
