package main

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// meterOffWarning is printed on stderr whenever --meter=off is used: the engine then has no CPU
// bound at all.
const meterOffWarning = "sgde exec: WARNING: --meter=off runs the node with NO CPU bound: no fuel and no wall-clock stop.\n" +
	"sgde exec: WARNING: a node that never ends hangs this process. Use it only to benchmark TRUSTED code.\n"

// meterFlags are sgde exec's flags for metering and repeated calls.
func meterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "meter", Value: "on", Usage: "`on`: the wazero engine meters fuel (deterministic CPU bound); off: no fuel and no wall-clock stop, for benchmarking trusted code only"},
		&cli.UintFlag{Name: "repeat", Value: 1, Usage: "call each input `N` times back to back; with --json a last line summarises latency and fuel"},
		&cli.BoolFlag{Name: "preinit", Usage: "build SRC.go as a reactor: initialised once, calls served from pooled instances restored to that snapshot"},
	}
}

// execMeter reads --meter: true for on. off is refused for engines that cannot run without a
// CPU bound.
func execMeter(c *cli.Context, engineName plans.EngineName) (bool, error) {
	switch v := c.String("meter"); v {
	case "", "on":
		return true, nil
	case "off":
		if engineName != plans.EngineWazero {
			return false, usagef("--meter=off is supported by the wazero engine only")
		}
		return false, nil
	default:
		return false, usagef("--meter must be on or off, got %q", v)
	}
}

// execRepeat reads --repeat.
func execRepeat(c *cli.Context) (int, error) {
	n := c.Uint("repeat")
	if n == 0 || n > 10_000_000 {
		return 0, usagef("--repeat must be between 1 and 10000000")
	}
	return int(n), nil
}

// newExecEngine starts the engine sgde exec runs on: newEngine's, or with meter false the
// unbounded wazero engine for benchmarking trusted code.
func newExecEngine(ctx context.Context, name plans.EngineName, meter bool) (sandbox.Engine, error) {
	if meter {
		return newEngine(ctx, name)
	}
	return sandbox.New(ctx, name, engineOptions(name, sandbox.WithMetering(sandbox.MeterNone))...)
}

// callStats accumulates the latency and fuel of sgde exec's calls for the --repeat summary.
type callStats struct {
	lat     []time.Duration
	fuel    uint64
	metered bool
	failed  int
}

func (s *callStats) add(d time.Duration, u sandbox.Usage, err error) {
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

// execSummary is the last --json line of sgde exec --repeat: latency as the caller sees it
// (Module.Call, instantiation included), and the mean fuel per call when every call was metered.
type execSummary struct {
	Summary struct {
		Calls        int     `json:"calls"`
		Failed       int     `json:"failed"`
		LatencyP50us float64 `json:"latency_p50_us"`
		LatencyP99us float64 `json:"latency_p99_us"`
		Fuel         *uint64 `json:"fuel,omitempty"`
		Metered      bool    `json:"metered"`
	} `json:"summary"`
}

func (s *callStats) summary() execSummary {
	var out execSummary
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

// defaultFuelText is plans.DefaultFuel for help texts.
var defaultFuelText = strconv.FormatUint(plans.DefaultFuel, 10)

// truncateOutput shortens an output object for an error message.
func truncateOutput(b []byte) string {
	if len(b) > 200 {
		return string(b[:200]) + "..."
	}
	return string(b)
}

// buildExecSource is buildSource, as a reactor when preinit is set.
func buildExecSource(c *cli.Context, srcPath string, timeout time.Duration, preinit bool) (*wasm.Artifact, error) {
	if !preinit {
		return buildSource(c, srcPath, timeout)
	}
	src, err := os.ReadFile(srcPath)
	if err != nil {
		return nil, withCode(exitFailure, err)
	}
	if timeout <= 0 {
		return nil, usagef("--build-timeout must be positive")
	}
	b, err := wasm.NewBuilder(wasm.WithTimeout(timeout), wasm.WithReactor())
	if err != nil {
		return nil, withCode(exitFailure, err)
	}
	art, err := b.Build(c.Context, src, filepath.Base(srcPath))
	if err != nil {
		return nil, withCode(exitFailure, err)
	}
	return art, nil
}
