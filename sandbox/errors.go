package sandbox

import "errors"

// Sentinel errors callers branch on with errors.Is. Every error a Module.Call returns wraps
// exactly one of them; Kind names it for JSON output and metrics.
var (
	ErrFuelExhausted  = errors.New("fuel exhausted")
	ErrTimeout        = errors.New("wall-clock timeout")
	ErrMemoryLimit    = errors.New("memory limit exceeded")
	ErrStackOverflow  = errors.New("stack overflow")
	ErrTrap           = errors.New("trap")
	ErrOutputTooLarge = errors.New("output too large")
	ErrBadOutput      = errors.New("bad output")
	// ErrGuest means the node's own function returned an error or panicked.
	ErrGuest = errors.New("guest error")
	// ErrInvalidModule means the module failed validation or uses imports the sandbox does not offer.
	ErrInvalidModule = errors.New("invalid module")
)

// ErrEngineUnavailable is returned by New for an engine this binary cannot start: wasmtime in
// a build without the wasmtime tag and cgo, or an engine asked for a mode it does not have.
var ErrEngineUnavailable = errors.New("sandbox engine unavailable")

var kinds = []struct {
	err  error
	kind string
}{
	{ErrFuelExhausted, "fuel_exhausted"},
	{ErrTimeout, "timeout"},
	{ErrMemoryLimit, "memory_limit"},
	{ErrStackOverflow, "stack_overflow"},
	{ErrOutputTooLarge, "output_too_large"},
	{ErrBadOutput, "bad_output"},
	{ErrGuest, "guest_error"},
	{ErrInvalidModule, "invalid_module"},
	{ErrTrap, "trap"},
}

// Kind names the class of err for JSON output and metrics ("fuel_exhausted", "timeout",
// "memory_limit", "stack_overflow", "output_too_large", "bad_output", "guest_error",
// "invalid_module", "trap"), or "" when err is nil or of no known class.
func Kind(err error) string {
	if err == nil {
		return ""
	}
	for _, k := range kinds {
		if errors.Is(err, k.err) {
			return k.kind
		}
	}
	return ""
}

// IsLimit reports whether err means a call was stopped by a limit or trapped, as opposed to the
// node reporting an error of its own.
func IsLimit(err error) bool {
	switch Kind(err) {
	case "fuel_exhausted", "timeout", "memory_limit", "stack_overflow", "output_too_large", "trap":
		return true
	}
	return false
}
