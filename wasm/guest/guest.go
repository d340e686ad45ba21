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
//   - Run may be called once per invocation; the host rejects a second result.
//   - Error and panic messages longer than MaxErrorBytes are truncated, so a huge message fails
//     as an error of the node rather than as an oversized result.
//   - On wasip1 a goroutine's stack is capped at MaxStackBytes, so runaway recursion stops with
//     the Go runtime's "stack overflow" well before it exhausts the memory limit.
package guest

import (
	"bytes"
	"encoding/json"
	"fmt"
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

func decodeInput(raw []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var in map[string]any
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("input is not a JSON object: %v", err)
	}
	if in == nil {
		in = map[string]any{}
	}
	return in, nil
}

func encode(env envelope) []byte {
	b, err := json.Marshal(env)
	if err != nil {
		b, _ = json.Marshal(envelope{Error: "output is not JSON-encodable: " + err.Error(), Kind: "bad_output"})
	}
	return b
}

// warmInput exercises every JSON shape an input or output can take.
const warmInput = `{"s":"x","n":12345678901234567890,"f":-1.5e3,"b":true,"z":null,"a":[1,"x",false,{"k":[]}],"o":{"k":{}}}`

// Prewarm runs the SDK's own decode and encode paths once, without calling any node function,
// so that their lazily built state (encoding/json's type caches, the big-number paths) exists.
// A reactor-built node calls it at initialisation, and the sandbox snapshots the instance after
// initialisation: every call then starts from warm caches instead of building them again. It
// has no effect on what a call computes.
func Prewarm() {
	encode(call(func(in map[string]any) (map[string]any, error) { return in, nil }, []byte(warmInput)))
	encode(envelope{Error: "x", Kind: "guest_error"})
}
