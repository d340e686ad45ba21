package rewrite

import (
	"errors"
	"fmt"

	"github.com/sgde-project/sgde/internal/wasmbin"
	"github.com/sgde-project/sgde/wasm/abi"
)

var (
	// ErrOutOfFuel is a sentinel the host's out_of_fuel import may panic with.
	ErrOutOfFuel = errors.New("out of fuel")
	// ErrStackOverflow is a sentinel the host's stack_overflow import may panic with.
	ErrStackOverflow = errors.New("call stack depth limit exceeded")
	// ErrInvalidModule is wrapped by Rewrite errors about the input module itself.
	ErrInvalidModule = errors.New("invalid module")
	// ErrAlreadyInstrumented reports a module that already carries this package's imports or
	// exports: rewriting twice would double-charge.
	ErrAlreadyInstrumented = errors.New("module is already instrumented")
)

// Pipeline is an immutable set of passes. The zero value (and NewPipeline) decodes and
// re-encodes the module without changing it.
type Pipeline struct {
	merge       bool
	mergeGap    uint32
	meter       bool
	initialFuel int64
	stackDepth  uint32
}

// NewPipeline returns a pipeline with no passes.
func NewPipeline() Pipeline { return Pipeline{} }

// DefaultMergeGap fills gaps of up to 4 KiB: for Go guests it turns ~38,000 segments into a
// handful at the cost of ~11% module size (see docs/BENCHMARKS.md).
const DefaultMergeGap = 4096

// WithMergeData returns a copy that merges the active data segments of each defined memory.
// Segments closer than maxGap bytes are joined with zeros in between; farther ones are joined
// only when that makes the module smaller. Go's linker emits one segment per symbol (tens of
// thousands); merging them cuts instantiation time several-fold.
func (p Pipeline) WithMergeData(maxGap uint32) Pipeline {
	p.merge, p.mergeGap = true, maxGap
	return p
}

// WithMeter returns a copy that meters fuel; initialFuel is the value of sgde_fuel at
// instantiation (with 0, the first fuel check traps unless the host sets it first).
func (p Pipeline) WithMeter(initialFuel int64) Pipeline {
	p.meter, p.initialFuel = true, initialFuel
	return p
}

// WithStackLimit returns a copy that traps through sgde.stack_overflow when more than maxDepth
// guest function activations are live. 0 disables the pass.
func (p Pipeline) WithStackLimit(maxDepth uint32) Pipeline {
	p.stackDepth = maxDepth
	return p
}

// Rewrite decodes wasm, applies the passes and encodes the result.
func (p Pipeline) Rewrite(wasm []byte) ([]byte, error) {
	m, err := wasmbin.Decode(wasm)
	if err != nil {
		return nil, fmt.Errorf("decode: %w: %w", ErrInvalidModule, err)
	}
	if err := p.apply(m); err != nil {
		return nil, err
	}
	out, err := wasmbin.Encode(m)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return out, nil
}

func (p Pipeline) apply(m *wasmbin.Module) error {
	if err := m.CheckIndices(); err != nil {
		return fmt.Errorf("%w: %w", ErrInvalidModule, err)
	}
	if p.merge {
		if err := mergeData(m, p.mergeGap); err != nil {
			return fmt.Errorf("merge data: %w", err)
		}
	}
	if !p.meter && p.stackDepth == 0 {
		return nil
	}
	for _, im := range m.Imports {
		if im.Module == abi.HostModule && (im.Name == abi.OutOfFuel || im.Name == abi.StackOverflow) {
			return fmt.Errorf("import %s.%s: %w", im.Module, im.Name, ErrAlreadyInstrumented)
		}
	}
	for _, e := range m.Exports {
		if e.Name == abi.FuelGlobal || e.Name == abi.DepthGlobal {
			return fmt.Errorf("export %s: %w", e.Name, ErrAlreadyInstrumented)
		}
	}
	void := m.TypeIndex(wasmbin.FuncType{})
	var imps []wasmbin.Import
	if p.meter {
		imps = append(imps, wasmbin.Import{Module: abi.HostModule, Name: abi.OutOfFuel, Kind: wasmbin.KindFunc, Func: void})
	}
	if p.stackDepth > 0 {
		imps = append(imps, wasmbin.Import{Module: abi.HostModule, Name: abi.StackOverflow, Kind: wasmbin.KindFunc, Func: void})
	}
	first, err := m.AddFuncImports(imps...)
	if err != nil {
		return fmt.Errorf("add imports: %w", err)
	}
	if p.meter {
		if err := meter(m, first, p.initialFuel); err != nil {
			return fmt.Errorf("meter: %w", err)
		}
		first++
	}
	if p.stackDepth > 0 {
		if err := stackLimit(m, first, p.stackDepth); err != nil {
			return fmt.Errorf("stack limit: %w", err)
		}
	}
	return nil
}

// MergeData is NewPipeline().WithMergeData(maxGap).Rewrite(wasm).
func MergeData(wasm []byte, maxGap uint32) ([]byte, error) {
	return NewPipeline().WithMergeData(maxGap).Rewrite(wasm)
}

// Meter is NewPipeline().WithMeter(initialFuel).Rewrite(wasm).
func Meter(wasm []byte, initialFuel int64) ([]byte, error) {
	return NewPipeline().WithMeter(initialFuel).Rewrite(wasm)
}

// StackLimit is NewPipeline().WithStackLimit(maxDepth).Rewrite(wasm).
func StackLimit(wasm []byte, maxDepth uint32) ([]byte, error) {
	return NewPipeline().WithStackLimit(maxDepth).Rewrite(wasm)
}
