// Package preinit takes a Wizer-style snapshot of a metered reactor module: it runs the module's
// _initialize (Go runtime and package initialisation) once under fuel in wazero and writes a new
// module whose memory, globals and clocks start where initialisation ended; and it keeps pools
// of instances of a snapshot that are put back into the snapshot state after every call (Linux).
// It does not build or meter modules, and knows nothing of the sandbox's limits or errors.
package preinit

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/sgde-project/sgde/internal/wasmbin"
	"github.com/sgde-project/sgde/sandbox/internal/rewrite"
	"github.com/sgde-project/sgde/wasm/abi"
)

// Errors callers branch on with errors.Is.
var (
	// ErrInitFuel means _initialize did not finish within its fuel: a package initialiser that
	// never ends fails the snapshot instead of hanging it.
	ErrInitFuel = errors.New("initialisation ran out of fuel")
	// ErrUnsupported means the module has a shape the snapshot does not handle (no or several
	// memories, imported globals, no _initialize, not metered).
	ErrUnsupported = errors.New("module cannot be snapshotted")
)

// fakeEpochNanos is wazero's fake wall clock start (2022-01-01), kept so that the snapshot's
// clocks continue wazero's defaults.
const fakeEpochNanos = 1640995200 * int64(1e9)

// Image is a snapshot.
type Image struct {
	// Wasm is the snapshot module: memory minimum and data are the memory after _initialize,
	// globals start at their values after it, and _initialize does nothing.
	Wasm []byte
	// Nanotime and Walltime are the next readings of the monotonic and wall clocks. Instances of
	// Wasm must continue from them (see Clocks): the Go runtime crashes when its monotonic
	// clock goes back.
	Nanotime, Walltime int64
	// Pages is the memory size at the snapshot, in 64 KiB pages.
	Pages uint32
	// Fuel is what _initialize used.
	Fuel uint64

	memory  []byte            // linear memory after _initialize
	bare    []byte            // Wasm without the memory image, for pooled instances (pool.go)
	globals map[string]uint64 // exported name -> value of every mutable global at the snapshot
}

// Clocks returns cfg with wazero's fake clocks (1 ms per reading) continued from the image.
func (im *Image) Clocks(cfg wazero.ModuleConfig) wazero.ModuleConfig {
	c := &clocks{nano: im.Nanotime - 1e6, wall: im.Walltime - 1e6}
	return cfg.WithNanotime(c.nanotime, 1).WithWalltime(c.walltime, 1)
}

// clocks mirror wazero's fake clocks, so that the readings of an instance are known.
type clocks struct{ nano, wall int64 }

func (c *clocks) nanotime() int64 { c.nano += 1e6; return c.nano }

func (c *clocks) walltime() (int64, int32) {
	c.wall += 1e6
	return c.wall / 1e9, int32(c.wall % 1e9)
}

// Take instantiates wasm (a module rewritten with rewrite.Meter from a reactor) in rt, whose
// host modules must already be instantiated, gives it fuel, runs _initialize and returns the
// snapshot. cfg is the module configuration of the instance (output writers, name); its start
// functions and clocks are replaced. warm, if not nil, runs after _initialize and before the
// snapshot (for example one representative call, so that lazily built caches are baked in);
// whatever state it leaves is what every instance of the snapshot starts from.
func Take(ctx context.Context, rt wazero.Runtime, wasm []byte, fuel int64, cfg wazero.ModuleConfig, warm func(context.Context, api.Module) error) (*Image, error) {
	return TakeMetered(ctx, rt, wasm, &fixedMeter{fuel: fuel}, cfg, warm)
}

// fixedMeter gives a run all its fuel at once.
type fixedMeter struct {
	fuel int64
	g    api.MutableGlobal
}

func (f *fixedMeter) Start(g api.MutableGlobal) { f.g = g; g.Set(uint64(f.fuel)) }

func (f *fixedMeter) Used() int64 { return f.fuel - int64(f.g.Get()) }

// TakeMetered is Take with the fuel of _initialize (and warm) given and accounted for by meter,
// as Pool.Call does with CallOptions.Meter: a host that hands out the budget in slices can check
// a deadline between them. Running out of fuel (rewrite.ErrOutOfFuel) is ErrInitFuel.
func TakeMetered(ctx context.Context, rt wazero.Runtime, wasm []byte, meter Meter, cfg wazero.ModuleConfig, warm func(context.Context, api.Module) error) (*Image, error) {
	m, err := wasmbin.Decode(wasm)
	if err != nil {
		return nil, fmt.Errorf("snapshot: %w: %w", ErrUnsupported, err)
	}
	if len(m.Memories) != 1 || m.NumImported(wasmbin.KindMemory) != 0 {
		return nil, fmt.Errorf("snapshot: %w: want exactly one defined memory", ErrUnsupported)
	}
	if m.NumImported(wasmbin.KindGlobal) != 0 {
		return nil, fmt.Errorf("snapshot: %w: imported globals", ErrUnsupported)
	}
	initFunc, ok := exportIndex(m, abi.ReactorInit, wasmbin.KindFunc)
	if !ok {
		return nil, fmt.Errorf("snapshot: %w: no %s export (build with -buildmode=c-shared)", ErrUnsupported, abi.ReactorInit)
	}
	if _, ok := exportIndex(m, abi.FuelGlobal, wasmbin.KindGlobal); !ok {
		return nil, fmt.Errorf("snapshot: %w: module is not metered", ErrUnsupported)
	}
	if m.Start != nil {
		// A start section would run again on every fresh pooled instance, after the snapshot.
		return nil, fmt.Errorf("snapshot: %w: the module has a start section", ErrUnsupported)
	}
	if err := checkRestorable(m); err != nil {
		return nil, fmt.Errorf("snapshot: %w: %w", ErrUnsupported, err)
	}
	// Export every mutable global so that its value can be read after _initialize.
	names := map[uint32]string{}
	for _, e := range m.Exports {
		if e.Kind == wasmbin.KindGlobal {
			names[e.Index] = e.Name
		}
	}
	for i, g := range m.Globals {
		idx := uint32(i)
		if g.Type.Mutable && names[idx] == "" {
			names[idx] = fmt.Sprintf("sgde_snapshot_global_%d", idx)
			if err := m.AddExport(wasmbin.Export{Name: names[idx], Kind: wasmbin.KindGlobal, Index: idx}); err != nil {
				return nil, fmt.Errorf("snapshot: export global %d: %w", idx, err)
			}
		}
	}
	probe, err := wasmbin.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("snapshot: encode: %w", err)
	}
	compiled, err := rt.CompileModule(ctx, probe)
	if err != nil {
		return nil, fmt.Errorf("snapshot: compile: %w", err)
	}
	defer compiled.Close(ctx)
	clk := &clocks{nano: -1e6, wall: fakeEpochNanos - 1e6}
	cfg = cfg.WithStartFunctions().WithNanotime(clk.nanotime, 1).WithWalltime(clk.walltime, 1)
	mod, err := rt.InstantiateModule(ctx, compiled, cfg)
	if err != nil {
		return nil, fmt.Errorf("snapshot: instantiate: %w", err)
	}
	defer mod.Close(ctx)
	fuelG, ok := mod.ExportedGlobal(abi.FuelGlobal).(api.MutableGlobal)
	if !ok {
		return nil, fmt.Errorf("snapshot: %w: %s is not a mutable global", ErrUnsupported, abi.FuelGlobal)
	}
	meter.Start(fuelG)
	if _, err := mod.ExportedFunction(abi.ReactorInit).Call(ctx); err != nil {
		if errors.Is(err, rewrite.ErrOutOfFuel) {
			return nil, fmt.Errorf("snapshot: %w after %d fuel", ErrInitFuel, meter.Used())
		}
		return nil, fmt.Errorf("snapshot: %s: %w", abi.ReactorInit, err)
	}
	if warm != nil {
		if err := warm(ctx, mod); err != nil {
			return nil, fmt.Errorf("snapshot: warm-up: %w", err)
		}
		if int64(fuelG.Get()) < 0 {
			return nil, fmt.Errorf("snapshot: warm-up: %w", ErrInitFuel)
		}
	}
	im := &Image{Fuel: uint64(meter.Used()), Nanotime: clk.nano + 1e6, Walltime: clk.wall + 1e6}
	memory := mod.Memory()
	size := memory.Size()
	image, ok := memory.Read(0, size)
	if !ok {
		return nil, errors.New("snapshot: memory unreadable")
	}
	im.Pages = size / 65536
	im.memory = bytes.Clone(image)
	im.globals = map[string]uint64{}
	values := map[uint32]uint64{}
	for idx, name := range names {
		if g := mod.ExportedGlobal(name); g != nil && m.Globals[idx].Type.Mutable {
			values[idx] = g.Get()
			switch name {
			case abi.FuelGlobal, abi.DepthGlobal:
				values[idx] = 0 // the host sets the fuel per call; depth is 0 between calls
			}
			im.globals[name] = values[idx]
		}
	}

	// The output is the probe module (the original with every mutable global exported, so
	// that a pool can restore them) with new initial state.
	out := m
	mem := &out.Memories[0]
	if mem.HasMax && mem.Max < im.Pages {
		return nil, fmt.Errorf("snapshot: %w: memory grew past its maximum", ErrUnsupported)
	}
	mem.Min = im.Pages
	for i := range out.Data {
		if d := &out.Data[i]; d.Mode == wasmbin.ModeActive {
			// Keep the index (memory.init and data.drop refer to segments by index), drop the
			// content: the image below covers it.
			d.Offset, d.Init = wasmbin.ConstExprI32(0), nil
		}
	}
	for idx, v := range values {
		g := &out.Globals[idx]
		if g.Init, err = constExpr(g.Type.Type, v); err != nil {
			return nil, fmt.Errorf("snapshot: global %d: %w", idx, err)
		}
	}
	body := &out.Code[initFunc-out.NumImported(wasmbin.KindFunc)]
	body.Locals, body.Body = nil, []byte{byte(wasmbin.OpEnd)} // running Go's init twice traps
	if im.bare, err = wasmbin.Encode(out); err != nil {
		return nil, fmt.Errorf("snapshot: encode: %w", err)
	}
	for _, run := range nonZeroRuns(image, 4096) {
		out.Data = append(out.Data, wasmbin.Data{Mode: wasmbin.ModeActive, Offset: wasmbin.ConstExprI32(int32(run[0])), Init: im.memory[run[0]:run[1]]})
	}
	if out.DataCount != nil {
		n := uint32(len(out.Data))
		out.DataCount = &n
	}
	if im.Wasm, err = wasmbin.Encode(out); err != nil {
		return nil, fmt.Errorf("snapshot: encode: %w", err)
	}
	return im, nil
}

// checkRestorable refuses a module that can change state a pool does not restore between calls:
// tables (table.set, table.grow, table.fill, table.copy, table.init) and dropped segments
// (elem.drop, data.drop). Go and TinyGo emit none of these; a module that does would carry
// that state from one call into the next.
func checkRestorable(m *wasmbin.Module) error {
	var in wasmbin.Instr
	ir := wasmbin.NewInstrReader(nil, 0)
	for i := range m.Code {
		ir.Reset(m.Code[i].Body, 0)
		for {
			err := ir.Next(&in)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				return fmt.Errorf("function %d: %w", i, err)
			}
			switch in.Op {
			case wasmbin.OpTableSet, wasmbin.OpTableGrow, wasmbin.OpTableFill, wasmbin.OpTableCopy,
				wasmbin.OpTableInit, wasmbin.OpElemDrop, wasmbin.OpDataDrop:
				return fmt.Errorf("function %d changes tables or segments (opcode %#x), which a pool does not restore", int(m.NumImported(wasmbin.KindFunc))+i, uint32(in.Op))
			}
		}
	}
	return nil
}

func exportIndex(m *wasmbin.Module, name string, kind byte) (uint32, bool) {
	for _, e := range m.Exports {
		if e.Name == name && e.Kind == kind {
			return e.Index, true
		}
	}
	return 0, false
}

func constExpr(t wasmbin.ValType, v uint64) ([]byte, error) {
	switch t {
	case wasmbin.I32:
		return wasmbin.ConstExprI32(int32(uint32(v))), nil
	case wasmbin.I64:
		return wasmbin.ConstExprI64(int64(v)), nil
	case wasmbin.F32:
		return append(binary.LittleEndian.AppendUint32([]byte{0x43}, uint32(v)), byte(wasmbin.OpEnd)), nil
	case wasmbin.F64:
		return append(binary.LittleEndian.AppendUint64([]byte{0x44}, v), byte(wasmbin.OpEnd)), nil
	}
	return nil, fmt.Errorf("%w: global of type %#x", ErrUnsupported, byte(t))
}

// nonZeroRuns returns [start, end) ranges covering every non-zero byte of b, joining runs
// separated by at most gap zero bytes.
func nonZeroRuns(b []byte, gap int) [][2]int {
	var runs [][2]int
	i := 0
	for i < len(b) {
		for i < len(b) && b[i] == 0 {
			i++
		}
		if i == len(b) {
			break
		}
		start := i
		end := i
		for i < len(b) {
			if b[i] != 0 {
				i++
				end = i
				continue
			}
			j := i
			for j < len(b) && b[j] == 0 && j-end < gap {
				j++
			}
			if j == len(b) || b[j] == 0 {
				break
			}
			i = j
		}
		runs = append(runs, [2]int{start, end})
		i = end
	}
	return runs
}
