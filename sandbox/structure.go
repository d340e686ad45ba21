package sandbox

import (
	"fmt"

	"github.com/sgde-project/sgde/internal/wasmbin"
)

// checkStructure is the first thing Load does with a module, before any engine compiles or
// rewrites it: it decodes wasm, refuses a module over any of wasmbin's structural limits
// (function count, body size, nesting, locals, br_table, calls, segments, tables; see
// wasmbin.Check) and gives every table a maximum so that table.grow cannot take the tables past
// wasmbin.MaxTableElements (8 MiB of host memory), whatever the call's memory limit. Engines
// count a table's elements nowhere else. Errors wrap ErrInvalidModule and, for a limit,
// *wasmbin.LimitError.
func checkStructure(wasm []byte) ([]byte, error) {
	m, err := wasmbin.Decode(wasm)
	if err != nil {
		return nil, fmt.Errorf("%w: %s", ErrInvalidModule, truncateMessage(err.Error()))
	}
	if err := wasmbin.Check(m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	before := make([]wasmbin.Limits, len(m.Tables))
	for i, t := range m.Tables {
		before[i] = t.Limits
	}
	if err := wasmbin.CapTables(m); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	capped := false
	for i, t := range m.Tables {
		capped = capped || t.Limits != before[i]
	}
	if !capped {
		return wasm, nil
	}
	out, err := wasmbin.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("%w: re-encode with table maximums: %v", ErrInvalidModule, err)
	}
	return out, nil
}
