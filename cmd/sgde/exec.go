package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

func execCommand() *cli.Command {
	return &cli.Command{
		Name:  "exec",
		Usage: "run a code node in the sandbox, once per input, each call from clean state",
		UsageText: "sgde exec SRC.go|MOD.wasm (--input JSON | --inputs FILE.jsonl) [--engine wazero|wasmtime] [--memory-mib N] [--timeout D] [--fuel N] [--repeat N] [--meter on|off] [--preinit] [--json]\n\n" +
			"With --json, one line per call: {\"output\": {...}, \"usage\": {...}} or\n" +
			"{\"error\": {\"kind\": \"...\", \"message\": \"...\"}, \"usage\": {...}}.\n" +
			"Exit 0 if every call succeeded, 3 if a call hit a limit or trapped, 1 if the source was\n" +
			"rejected, failed to build or a call failed otherwise, 2 for usage errors.\n" +
			"The wazero engine meters fuel: --fuel N bounds each call's work (default " + defaultFuelText + "), and\n" +
			"usage.fuel reports it exactly. --repeat N calls each input N times back to back; with --json a\n" +
			"last line {\"summary\": {\"calls\", \"failed\", \"latency_p50_us\", \"latency_p99_us\", \"fuel\", \"metered\"}}\n" +
			"follows (fuel is the mean per call). --meter=off removes every CPU bound: trusted code only.\n" +
			"--preinit builds SRC.go as a reactor that is initialised once and served from pooled instances\n" +
			"restored to that snapshot after every call (wazero, Linux).\n\n" +
			"Example:\n" +
			"   sgde exec compiler/library/modules/arith/arith_program.go --input '{\"program\": \"def solution():\\n    return 2**70 + 1\\n\"}' --json\n" +
			"   sgde exec compiler/library/modules/arith/arith_program.go --input '{\"program\": \"def solution():\\n    return 6 * 7\\n\"}' --repeat 200 --json | tail -1",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "input", Usage: "one input object as `JSON`"},
			&cli.StringFlag{Name: "inputs", Usage: "a `FILE` of input objects, one JSON object per line"},
			&cli.UintFlag{Name: "memory-mib", Value: plans.DefaultMemoryMiB, Usage: "memory limit of each call in MiB"},
			&cli.DurationFlag{Name: "timeout", Value: plans.DefaultCodeTimeout, Usage: "wall-clock limit of each call"},
			&cli.IntFlag{Name: "max-output-bytes", Value: plans.DefaultMaxOutputBytes, Usage: "limit on the output object and on each of stdout and stderr"},
			&cli.Uint64Flag{Name: "fuel", Usage: "fuel (instruction budget) of each call; 0 means the engine's default"},
			engineFlag(),
			&cli.BoolFlag{Name: "json", Usage: "print one JSON line per call"},
			&cli.DurationFlag{Name: "build-timeout", Value: wasm.DefaultBuildTimeout, Usage: "bound on the compiler's wall time when SRC is Go source"},
			meterFlags()[0], meterFlags()[1], meterFlags()[2],
		},
		Action: runExec,
	}
}

// execLine is one --json line of sgde exec.
type execLine struct {
	Output json.RawMessage `json:"output,omitempty"`
	Error  *execError      `json:"error,omitempty"`
	Usage  *sandbox.Usage  `json:"usage,omitempty"`
}

type execError struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
}

func runExec(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("exec takes exactly one SRC.go or MOD.wasm argument, got %d", c.NArg())
	}
	target := c.Args().First()
	jsonOut := c.Bool("json")
	var lim sandbox.Limits
	mem := c.Uint("memory-mib")
	if mem == 0 || mem > plans.MaxMemoryMiB {
		return usagef("--memory-mib must be between 1 and %d", plans.MaxMemoryMiB)
	}
	lim.MemoryMiB = uint32(mem)
	lim.Timeout = c.Duration("timeout")
	if lim.Timeout <= 0 {
		return usagef("--timeout must be positive")
	}
	maxOut := c.Int("max-output-bytes")
	if maxOut <= 0 || maxOut > plans.MaxOutputBytesMax {
		return usagef("--max-output-bytes must be between 1 and %d", plans.MaxOutputBytesMax)
	}
	lim.MaxOutputBytes = int(maxOut)
	engineName, err := chooseEngine(c.String("engine"), "")
	if err != nil {
		return err
	}
	meter, err := execMeter(c, engineName)
	if err != nil {
		return err
	}
	repeat, err := execRepeat(c)
	if err != nil {
		return err
	}
	preinit := c.Bool("preinit")
	if preinit && (!meter || engineName != plans.EngineWazero) {
		return usagef("--preinit needs the wazero engine with metering on")
	}
	lim.Fuel = c.Uint64("fuel")
	if lim.Fuel > plans.MaxFuel {
		return usagef("--fuel must be at most %d", uint64(plans.MaxFuel))
	}
	if !meter {
		if lim.Fuel > 0 {
			return usagef("--fuel needs metering; drop --meter=off")
		}
		fmt.Fprint(c.App.ErrWriter, meterOffWarning)
	}
	buildTimeout := c.Duration("build-timeout")
	inputs, err := readInputs(c.String("input"), c.String("inputs"))
	if err != nil {
		return err
	}

	var module []byte
	switch {
	case strings.HasSuffix(target, ".go"):
		art, err := buildExecSource(c, target, buildTimeout, preinit)
		if err != nil {
			if jsonOut {
				writeJSONLine(c.App.Writer, map[string]any{"error": buildErrorJSON(err)})
			}
			return err
		}
		module = art.Wasm
	case strings.HasSuffix(target, ".wasm"):
		f, err := os.Open(target)
		if err != nil {
			return withCode(exitFailure, err)
		}
		// Read one byte past the cap so that an oversized module is reported, not truncated.
		module, err = io.ReadAll(io.LimitReader(f, sandbox.DefaultMaxModuleBytes+1))
		f.Close()
		if err != nil {
			return withCode(exitFailure, err)
		}
	default:
		return usagef("exec: %s is neither a .go source nor a .wasm module", target)
	}

	ctx := c.Context
	engine, err := newExecEngine(ctx, engineName, meter)
	if err != nil {
		return withCode(exitFailure, err)
	}
	defer engine.Close(ctx)
	// Loading runs under the call's limits too: a reactor's initialisation gets the call's fuel,
	// memory and timeout (each at most the default), and the whole load, compilation included,
	// gets the call's timeout on top of DefaultTimeout for compiling (a module within the
	// structural limits compiles well within that).
	loadCtx, cancelLoad := context.WithTimeout(sandbox.WithLoadLimits(ctx, lim), lim.Timeout+plans.DefaultCodeTimeout)
	mod, err := engine.Load(loadCtx, module)
	cancelLoad()
	if err != nil {
		if jsonOut {
			writeJSONLine(c.App.Writer, execLine{Error: &execError{Kind: kindOf(err), Message: err.Error()}})
		}
		if sandbox.IsLimit(err) {
			return withCode(exitLimit, fmt.Errorf("load %s: %w", target, err))
		}
		return withCode(exitFailure, fmt.Errorf("load %s: %w", target, err))
	}
	defer mod.Close(ctx)

	var limitHit, failed error
	var stats callStats
	var firstOut []json.RawMessage
	for call := range len(inputs) * repeat {
		i, in := call%len(inputs), inputs[call%len(inputs)]
		start := time.Now()
		res, err := mod.Call(ctx, in, lim)
		stats.add(time.Since(start), res.Usage, err)
		if ctx.Err() != nil {
			return withCode(exitFailure, fmt.Errorf("exec %s: %w", target, ctx.Err()))
		}
		if call >= len(inputs) {
			// A repetition: only its latency and outcome count, and it must repeat the first.
			if err == nil && !bytes.Equal(res.Output, firstOut[i]) && failed == nil {
				failed = fmt.Errorf("call %d of %d: output of repetition %d differs from the first: %s", i+1, len(inputs), call/len(inputs)+1, truncateOutput(res.Output))
			}
			if err != nil && limitHit == nil && failed == nil {
				if sandbox.IsLimit(err) {
					limitHit = fmt.Errorf("call %d of %d, repetition %d: %w", i+1, len(inputs), call/len(inputs)+1, err)
				} else {
					failed = fmt.Errorf("call %d of %d, repetition %d: %w", i+1, len(inputs), call/len(inputs)+1, err)
				}
			}
			continue
		}
		firstOut = append(firstOut, res.Output)
		usage := res.Usage
		if jsonOut {
			line := execLine{Usage: &usage}
			if err != nil {
				line.Error = &execError{Kind: kindOf(err), Message: err.Error()}
			} else {
				line.Output = res.Output
			}
			writeJSONLine(c.App.Writer, line)
		} else if err == nil {
			var buf bytes.Buffer
			if json.Compact(&buf, res.Output) != nil {
				buf.Write(res.Output)
			}
			fmt.Fprintln(c.App.Writer, buf.String())
		}
		if err != nil {
			if !jsonOut {
				fmt.Fprintf(c.App.ErrWriter, "sgde exec: call %d: %s: %v\n", i+1, kindOf(err), err)
			}
			if sandbox.IsLimit(err) {
				if limitHit == nil {
					limitHit = fmt.Errorf("call %d of %d: %w", i+1, len(inputs), err)
				}
			} else if failed == nil {
				failed = fmt.Errorf("call %d of %d: %w", i+1, len(inputs), err)
			}
		}
	}
	if jsonOut && repeat > 1 {
		writeJSONLine(c.App.Writer, stats.summary())
	}
	if limitHit != nil {
		return withCode(exitLimit, limitHit)
	}
	if failed != nil {
		return withCode(exitFailure, failed)
	}
	return nil
}

func kindOf(err error) string {
	if k := sandbox.Kind(err); k != "" {
		return k
	}
	if errors.Is(err, wasm.ErrRejected) {
		return "rejected"
	}
	return "error"
}

// readInputs returns the call inputs: the --input object or every line of the --inputs file.
// Every input must be a JSON object; anything else is the caller's mistake (exit 2).
func readInputs(input, file string) ([][]byte, error) {
	switch {
	case input != "" && file != "":
		return nil, usagef("give either --input or --inputs, not both")
	case input == "" && file == "":
		return nil, usagef("exec needs --input JSON or --inputs FILE.jsonl")
	case input != "":
		if err := jsonObjectErr([]byte(input)); err != nil {
			return nil, usagef("--input: %v", err)
		}
		return [][]byte{[]byte(input)}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, usagef("--inputs: %v", err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := jsonObjectErr(line); err != nil {
			return nil, usagef("--inputs %s:%d: %v", file, n, err)
		}
		out = append(out, bytes.Clone(line))
	}
	if err := sc.Err(); err != nil {
		return nil, usagef("--inputs %s: %v", file, err)
	}
	if len(out) == 0 {
		return nil, usagef("--inputs %s has no inputs", file)
	}
	return out, nil
}

// jsonObjectErr says why b is not a JSON object: the parse error (with its offset) when it is
// not JSON at all, or what kind of value it is.
func jsonObjectErr(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return fmt.Errorf("not valid JSON: %v (at byte %d)", err, syn.Offset)
		}
		return fmt.Errorf("not valid JSON: %v", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("not a JSON object (got %s)", jsonKind(v))
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number"
}
