package nodeexec

import (
	"errors"
	"fmt"
	"time"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
)

// MeterOffWarning is printed on stderr whenever metering is off: the engine then has no CPU
// bound at all.
const MeterOffWarning = "sgde exec: WARNING: --meter=off runs the node with NO CPU bound: no fuel and no wall-clock stop.\n" +
	"sgde exec: WARNING: a node that never ends hangs this process. Use it only to benchmark TRUSTED code.\n"

// MaxRepeat bounds Settings.Repeat: ten million calls of the smallest node take minutes.
const MaxRepeat = 10_000_000

// Settings are sgde exec's limits and call options as the user gave them.
type Settings struct {
	MemoryMiB      uint
	Timeout        time.Duration
	MaxOutputBytes int
	// Fuel is each call's budget; 0 means the engine's default.
	Fuel uint64
	// Engine is the engine the node runs on (chosen by the caller).
	Engine plans.EngineName
	// Meter is "on" (or ""): fuel-metered, or "off": no CPU bound, wazero only.
	Meter string
	// Repeat calls each input this many times (1 to MaxRepeat).
	Repeat uint
	// Preinit builds a source as a reactor; it needs metered wazero.
	Preinit bool
}

// Check returns the limits of each call, whether the engine meters fuel and the repeat count.
// Every error is a setting out of range or a combination the engine cannot run, the caller's
// mistake; the messages name sgde exec's flags.
func (s Settings) Check() (lim sandbox.Limits, meter bool, repeat int, err error) {
	if s.MemoryMiB == 0 || s.MemoryMiB > plans.MaxMemoryMiB {
		return lim, false, 0, fmt.Errorf("--memory-mib must be between 1 and %d", plans.MaxMemoryMiB)
	}
	if s.Timeout <= 0 {
		return lim, false, 0, errors.New("--timeout must be positive")
	}
	if s.MaxOutputBytes <= 0 || s.MaxOutputBytes > plans.MaxOutputBytesMax {
		return lim, false, 0, fmt.Errorf("--max-output-bytes must be between 1 and %d", plans.MaxOutputBytesMax)
	}
	switch s.Meter {
	case "", "on":
		meter = true
	case "off":
		if s.Engine != plans.EngineWazero {
			return lim, false, 0, errors.New("--meter=off is supported by the wazero engine only")
		}
	default:
		return lim, false, 0, fmt.Errorf("--meter must be on or off, got %q", s.Meter)
	}
	if s.Repeat == 0 || s.Repeat > MaxRepeat {
		return lim, false, 0, fmt.Errorf("--repeat must be between 1 and %d", MaxRepeat)
	}
	if s.Preinit && (!meter || s.Engine != plans.EngineWazero) {
		return lim, false, 0, errors.New("--preinit needs the wazero engine with metering on")
	}
	if s.Fuel > plans.MaxFuel {
		return lim, false, 0, fmt.Errorf("--fuel must be at most %d", uint64(plans.MaxFuel))
	}
	if !meter && s.Fuel > 0 {
		return lim, false, 0, errors.New("--fuel needs metering; drop --meter=off")
	}
	lim = sandbox.Limits{MemoryMiB: uint32(s.MemoryMiB), Timeout: s.Timeout, MaxOutputBytes: s.MaxOutputBytes, Fuel: s.Fuel}
	return lim, meter, int(s.Repeat), nil
}
