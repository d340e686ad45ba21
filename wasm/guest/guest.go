// Package guest is the SDK that every code node links against. It is the only bridge between
// machine-written code and the host: it reads the node's input object, calls the node's function
// and hands the result back through a host import that user code cannot reach, so nothing a node
// prints can forge its output.
//
// A code node is one file:
//
//	package main
//
//	import "github.com/sgde-project/sgde/wasm/guest"
//
//	func main() {
//		guest.Run(func(in map[string]any) (map[string]any, error) {
//			return map[string]any{"answer": 42}, nil
//		})
//	}
//
// # Notes
//
//   - Numbers in the input arrive as json.Number so that large integers keep every digit; use
//     Int, Float or Rat-style parsing as the node needs. Output values may be json.Number to emit
//     an exact numeric literal.
//   - The input must be exactly one JSON object (or null, read as an empty object); anything
//     else, including data after the object, fails the call as bad_input.
//   - Run may be called once per invocation; the host rejects a second result.
//   - Error and panic messages longer than MaxErrorBytes are truncated, so a huge message fails
//     as an error of the node rather than as an oversized result.
//   - On wasip1 a goroutine's stack is capped at MaxStackBytes, so runaway recursion stops with
//     the Go runtime's "stack overflow" well before it exhausts the memory limit.
package guest

import (
	"encoding/json"
	"fmt"
	"runtime"
	"unicode/utf8"
)

// MaxErrorBytes bounds the message of a failure the SDK reports.
const MaxErrorBytes = 4 << 10

// MaxStackBytes bounds each goroutine's stack on wasip1.
const MaxStackBytes = 8 << 20

// Func is the signature of a code node's body.
type Func func(in map[string]any) (map[string]any, error)

// envelope is the one message a node sends to the host per call.
type envelope struct {
	Output map[string]any `json:"output"`
	Error  string         `json:"error,omitempty"`
	// Kind classifies a failure the guest itself detected: "guest_error" (f returned an error),
	// "panic" (f panicked), "bad_input" (the input was not a JSON object), "bad_output" (the
	// output could not be encoded as JSON).
	Kind string `json:"kind,omitempty"`
}

// Run reads the input object, calls f, and delivers its output or error to the host.
func Run(f Func) {
	deliver(call(f, readInput()))
}

func call(f Func, raw []byte) (env envelope) {
	defer func() { env.Error = truncate(env.Error, MaxErrorBytes) }()
	in, err := decodeInput(raw)
	if err != nil {
		return envelope{Error: err.Error(), Kind: "bad_input"}
	}
	defer func() {
		if r := recover(); r != nil {
			env = envelope{Error: fmt.Sprint("panic: ", r), Kind: "panic"}
		}
	}()
	out, err := f(in)
	if err != nil {
		return envelope{Error: err.Error(), Kind: "guest_error"}
	}
	if out == nil {
		out = map[string]any{}
	}
	return envelope{Output: out}
}

// truncate cuts s to at most n bytes at a rune boundary, saying how much was cut.
func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes truncated)", s[:cut], len(s)-cut)
}

// decodeInput decodes the input object with parseObject (json.go), which gives the values
// json.Decoder with UseNumber gives, at a fraction of its cost on wasm.
func decodeInput(raw []byte) (map[string]any, error) {
	in, err := parseObject(raw)
	if err != nil {
		return nil, fmt.Errorf("input is not a JSON object: %v", err)
	}
	return in, nil
}

// encode returns json.Marshal(env), written by appendEnvelope (json.go) for the same bytes at
// a fraction of the cost on wasm. An output that cannot be encoded becomes a bad_output
// failure carrying json.Marshal's error text.
func encode(env envelope) []byte {
	b, err := appendEnvelope(make([]byte, 0, 256), env)
	if err == errTooDeep {
		b, err = json.Marshal(env)
	}
	if err != nil {
		// Only strings: this cannot fail.
		b, _ = appendEnvelope(nil, envelope{Error: "output is not JSON-encodable: " + err.Error(), Kind: "bad_output"})
	}
	return b
}

// warmInput exercises every JSON shape an input or output can take, including escapes.
const warmInput = `{"s":"x\u00e9\n","n":12345678901234567890,"f":-1.5e3,"b":true,"z":null,"a":[1,"x",false,{"k":[]}],"o":{"k":{}}}`

// Prewarm runs the SDK's own decode and encode paths once, without calling any node function,
// so that their lazily built state exists. The SDK's own codec (json.go) has none, but the
// values it hands to encoding/json do: its type caches and encoder pool, which a
// json.Marshaler with non-trivial output (through json.RawMessage) or a struct in the output
// use. It also grows the goroutine stack and gives every allocation size class a cached span
// (see growStack and primeSizeClasses). A reactor-built node calls it at initialisation, and the
// sandbox snapshots the instance after initialisation: every call then starts from warm caches,
// a grown stack and primed allocator instead of building them again (on arith_program that was
// 745k of fuel per call before, 468k after). It has no effect on what a call computes.
func Prewarm() {
	encode(call(func(in map[string]any) (map[string]any, error) { return in, nil }, []byte(warmInput)))
	encode(envelope{Output: map[string]any{"f": 1.5, "m": json.RawMessage(`{"k": [1]}`)}})
	encode(envelope{Error: "x", Kind: "guest_error"})
	growStack(prewarmStackBytes / stackFrameBytes)
	primeSizeClasses()
}

// primeSizeClasses allocates one small object of every allocation size class, with and
// without pointers. The first allocation of a class takes a span from the heap for the
// per-P cache, which costs a few thousand instructions on wasm; in a snapshot taken after this
// every class already has a cached span with free slots, so a call does not pay for it.
func primeSizeClasses() {
	for size := 8; size <= 32<<10; size += max(8, size/16) {
		// The sizes are not constants, so these are heap allocations; KeepAlive stops the
		// compiler from dropping them.
		noScan, scan := make([]byte, size), make([]*byte, size/8)
		runtime.KeepAlive(noScan)
		runtime.KeepAlive(scan)
	}
}

// prewarmStackBytes is how much goroutine stack Prewarm uses. A goroutine starts with a few
// KiB of stack and the runtime copies it to a twice larger one each time it runs out; on wasm
// one such copy costs as much as a small node's whole call (it walks every frame's pointer
// maps), and a call that starts from a snapshot pays it again every time. Prewarm runs on the
// goroutine that later runs every call, so growing its stack here puts the large stack in the
// snapshot. The pages stay untouched (and free) until a call uses them.
const prewarmStackBytes = 256 << 10

const stackFrameBytes = 1 << 10

// growStack recurses n frames of about stackFrameBytes each.
//
//go:noinline
func growStack(n int) byte {
	var frame [stackFrameBytes - 64]byte
	frame[n%len(frame)] = byte(n)
	if n <= 0 {
		return frame[0]
	}
	return growStack(n-1) + frame[(n*7)%len(frame)]
}
