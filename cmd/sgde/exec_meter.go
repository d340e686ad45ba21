package main

import (
	"strconv"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/plans"
)

// meterFlags are sgde exec's flags for metering and repeated calls.
func meterFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "meter", Value: "on", Usage: "`on`: the wazero engine meters fuel (deterministic CPU bound); off: no fuel and no wall-clock stop, for benchmarking trusted code only"},
		&cli.UintFlag{Name: "repeat", Value: 1, Usage: "call each input `N` times back to back; with --json a last line summarises latency and fuel"},
		&cli.BoolFlag{Name: "preinit", Usage: "build SRC.go as a reactor: initialised once, calls served from pooled instances restored to that snapshot"},
	}
}

// defaultFuelText is plans.DefaultFuel for help texts.
var defaultFuelText = strconv.FormatUint(plans.DefaultFuel, 10)
