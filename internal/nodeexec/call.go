package nodeexec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// Line is one --json line of sgde exec.
type Line struct {
	Output json.RawMessage `json:"output,omitempty"`
	Error  *LineError      `json:"error,omitempty"`
	Usage  *sandbox.Usage  `json:"usage,omitempty"`
}

// LineError is the error of one call in a Line.
type LineError struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

// ErrorLine is the Line of a failed call or load.
func ErrorLine(err error) Line {
	return Line{Error: &LineError{Kind: Kind(err), Message: err.Error()}}
}

// Kind names err's class for the --json lines: the sandbox's kind of a limit or trap,
// "rejected" for a module the validator refused, else "error".
func Kind(err error) string {
	if k := sandbox.Kind(err); k != "" {
		return k
	}
	if errors.Is(err, wasm.ErrRejected) {
		return "rejected"
	}
	return "error"
}

// Load loads module into engine under the call's limits: a reactor's initialisation gets the
// call's fuel, memory and timeout (each at most the default), and the whole load, compilation
// included, gets the call's timeout on top of plans.DefaultCodeTimeout for compiling (a module
// within the structural limits compiles well within that).
func Load(ctx context.Context, engine sandbox.Engine, module []byte, lim sandbox.Limits) (sandbox.Module, error) {
	loadCtx, cancel := context.WithTimeout(sandbox.WithLoadLimits(ctx, lim), lim.Timeout+plans.DefaultCodeTimeout)
	defer cancel()
	return engine.Load(loadCtx, module)
}

// Options say how Call runs and prints the calls.
type Options struct {
	Limits sandbox.Limits
	// Repeat calls each input this many times back to back (at least 1). Only the first call
	// of each input is printed; a repetition must return the same output.
	Repeat int
	// JSON prints one Line per input and, with Repeat > 1, a last Summary line. Otherwise
	// outputs go to Out as compact JSON, one per line, and errors to Err.
	JSON     bool
	Out, Err io.Writer
}

// Outcome is what the calls came to: the first call that hit a limit or trapped, and the
// first that failed otherwise (a repetition whose output differs from the first counts as
// failed). Both nil means every call succeeded.
type Outcome struct {
	LimitHit, Failed error
}

// Call calls mod once per input (Repeat times each), each from clean state, and prints each
// input's first result. The error is the context's when ctx ends; the calls' own failures are
// in the Outcome.
func Call(ctx context.Context, mod sandbox.Module, inputs [][]byte, o Options) (Outcome, error) {
	var out Outcome
	var stats Stats
	var firstOut []json.RawMessage
	n := len(inputs)
	for call := range n * o.Repeat {
		i, in := call%n, inputs[call%n]
		start := time.Now()
		res, err := mod.Call(ctx, in, o.Limits)
		stats.Add(time.Since(start), res.Usage, err)
		if ctx.Err() != nil {
			return out, ctx.Err()
		}
		if call >= n {
			// A repetition: only its latency and outcome count, and it must repeat the first.
			if err == nil && !bytes.Equal(res.Output, firstOut[i]) && out.Failed == nil {
				out.Failed = fmt.Errorf("call %d of %d: output of repetition %d differs from the first: %s", i+1, n, call/n+1, truncate(res.Output))
			}
			if err != nil && out.LimitHit == nil && out.Failed == nil {
				if sandbox.IsLimit(err) {
					out.LimitHit = fmt.Errorf("call %d of %d, repetition %d: %w", i+1, n, call/n+1, err)
				} else {
					out.Failed = fmt.Errorf("call %d of %d, repetition %d: %w", i+1, n, call/n+1, err)
				}
			}
			continue
		}
		firstOut = append(firstOut, res.Output)
		usage := res.Usage
		if o.JSON {
			line := Line{Usage: &usage}
			if err != nil {
				line = ErrorLine(err)
				line.Usage = &usage
			} else {
				line.Output = res.Output
			}
			WriteJSONLine(o.Out, line)
		} else if err == nil {
			var buf bytes.Buffer
			if json.Compact(&buf, res.Output) != nil {
				buf.Write(res.Output)
			}
			fmt.Fprintln(o.Out, buf.String())
		}
		if err != nil {
			if !o.JSON {
				fmt.Fprintf(o.Err, "sgde exec: call %d: %s: %v\n", i+1, Kind(err), err)
			}
			if sandbox.IsLimit(err) {
				if out.LimitHit == nil {
					out.LimitHit = fmt.Errorf("call %d of %d: %w", i+1, n, err)
				}
			} else if out.Failed == nil {
				out.Failed = fmt.Errorf("call %d of %d: %w", i+1, n, err)
			}
		}
	}
	if o.JSON && o.Repeat > 1 {
		WriteJSONLine(o.Out, stats.Summary())
	}
	return out, nil
}

// Stats accumulates the latency and fuel of calls for the --repeat summary.
type Stats struct {
	lat     []time.Duration
	fuel    uint64
	metered bool
	failed  int
}

// Add records one call: its latency as the caller saw it, its usage and its error.
func (s *Stats) Add(d time.Duration, u sandbox.Usage, err error) {
	s.lat = append(s.lat, d)
	if len(s.lat) == 1 {
		s.metered = u.Metered
	}
	s.metered = s.metered && u.Metered
	s.fuel += u.Fuel
	if err != nil {
		s.failed++
	}
}

// Summary is the last --json line of sgde exec --repeat: latency as the caller sees it
// (Module.Call, instantiation included), and the mean fuel per call when every call was metered.
type Summary struct {
	Summary struct {
		Calls        int     `json:"calls"`
		Failed       int     `json:"failed"`
		LatencyP50us float64 `json:"latency_p50_us"`
		LatencyP99us float64 `json:"latency_p99_us"`
		Fuel         *uint64 `json:"fuel,omitempty"`
		Metered      bool    `json:"metered"`
	} `json:"summary"`
}

// Summary summarises the calls recorded so far.
func (s *Stats) Summary() Summary {
	var out Summary
	lat := slices.Clone(s.lat)
	slices.Sort(lat)
	out.Summary.Calls, out.Summary.Failed, out.Summary.Metered = len(lat), s.failed, s.metered
	if len(lat) > 0 {
		out.Summary.LatencyP50us = us(lat[(len(lat)-1)/2])
		out.Summary.LatencyP99us = us(lat[(len(lat)*99+99)/100-1])
		if s.metered {
			f := s.fuel / uint64(len(lat))
			out.Summary.Fuel = &f
		}
	}
	return out
}

func us(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 }

// truncate shortens an output object for an error message.
func truncate(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}
