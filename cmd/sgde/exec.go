package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/internal/nodeexec"
	"github.com/sgde-project/sgde/internal/runenv"
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

func runExec(c *cli.Context) error {
	if c.NArg() != 1 {
		return usagef("exec takes exactly one SRC.go or MOD.wasm argument, got %d", c.NArg())
	}
	target := c.Args().First()
	jsonOut := c.Bool("json")
	engineName, err := runenv.ChooseEngine(c.String("engine"), "")
	if err != nil {
		return err
	}
	lim, meter, repeat, err := nodeexec.Settings{
		MemoryMiB: c.Uint("memory-mib"), Timeout: c.Duration("timeout"), MaxOutputBytes: c.Int("max-output-bytes"),
		Fuel: c.Uint64("fuel"), Engine: engineName, Meter: c.String("meter"), Repeat: c.Uint("repeat"), Preinit: c.Bool("preinit"),
	}.Check()
	if err != nil {
		return usageError{err}
	}
	preinit := c.Bool("preinit")
	if !meter {
		fmt.Fprint(c.App.ErrWriter, nodeexec.MeterOffWarning)
	}
	buildTimeout := c.Duration("build-timeout")
	inputs, err := nodeexec.ReadInputs(c.String("input"), c.String("inputs"))
	if err != nil {
		return usageError{err}
	}

	var module []byte
	switch {
	case strings.HasSuffix(target, ".go"):
		art, err := buildSource(c, target, buildTimeout, preinit)
		if err != nil {
			if jsonOut {
				nodeexec.WriteJSONLine(c.App.Writer, map[string]any{"error": nodeexec.BuildErrorJSON(err)})
			}
			return err
		}
		module = art.Wasm
	case strings.HasSuffix(target, ".wasm"):
		if module, err = nodeexec.ReadModule(target); err != nil {
			return withCode(exitFailure, err)
		}
	default:
		return usagef("exec: %s is neither a .go source nor a .wasm module", target)
	}

	ctx := c.Context
	var engineOpts []sandbox.Option
	if !meter {
		engineOpts = append(engineOpts, sandbox.WithMetering(sandbox.MeterNone)) // trusted code only
	}
	engine, err := runenv.NewEngine(ctx, engineName, engineOpts...)
	if err != nil {
		return withCode(exitFailure, err)
	}
	defer engine.Close(ctx)
	mod, err := nodeexec.Load(ctx, engine, module, lim)
	if err != nil {
		if jsonOut {
			nodeexec.WriteJSONLine(c.App.Writer, nodeexec.ErrorLine(err))
		}
		if sandbox.IsLimit(err) {
			return withCode(exitLimit, fmt.Errorf("load %s: %w", target, err))
		}
		return withCode(exitFailure, fmt.Errorf("load %s: %w", target, err))
	}
	defer mod.Close(ctx)
	out, err := nodeexec.Call(ctx, mod, inputs, nodeexec.Options{Limits: lim, Repeat: repeat, JSON: jsonOut, Out: c.App.Writer, Err: c.App.ErrWriter})
	switch {
	case err != nil:
		return withCode(exitFailure, fmt.Errorf("exec %s: %w", target, err))
	case out.LimitHit != nil:
		return withCode(exitLimit, out.LimitHit)
	case out.Failed != nil:
		return withCode(exitFailure, out.Failed)
	}
	return nil
}
