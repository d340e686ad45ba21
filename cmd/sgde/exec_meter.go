package main

import (
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/plans"
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

// defaultFuelText is plans.DefaultFuel for help texts.
var defaultFuelText = strconv.FormatUint(plans.DefaultFuel, 10)
