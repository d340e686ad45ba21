//go:build linux

package preinit

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"sync"
	"syscall"
	"unsafe"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/experimental"
	"github.com/tetratelabs/wazero/sys"

	"github.com/sgde-project/sgde/wasm/abi"
)

// Pool keeps instances of a snapshot and restores each to the snapshot state after a call:
// memory is a private copy-on-write mapping of the snapshot image, and a restore copies the
// image back over the pages the call wrote (found with a write watch, see watch_linux.go) or,
// where the kernel cannot watch writes, drops every written page (madvise MADV_DONTNEED);
// globals, clocks and the random source are reset by the host. An instance is discarded
// instead of reused after any error (trap, fuel exhaustion, exit) or memory growth past the
// snapshot.
//
// # Notes
//
//   - Tables and segments are not restored: Take refuses a module that could change them (Go
//     and TinyGo never do).
//   - A Pool is safe for concurrent use; each instance serves one call at a time.
type Pool struct {
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	im       *Image
	file     *os.File // the memory image, mapped privately by every instance
	maxBytes uint64
	watch    *writeWatch // nil: instances restore with madvise

	mu           sync.Mutex
	free         []*pooled
	max          int
	instantiated int // instances created, for tests
}

type pooled struct {
	mod   api.Module
	mem   *cowMemory
	out   *switchWriter
	errw  *switchWriter
	clk   *clocks
	rnd   *resettableRand
	fuel  api.MutableGlobal
	globs map[string]api.MutableGlobal
	funcs map[string]api.Function
}

// NewPool compiles the snapshot's module without its memory image and writes the image to an
// unlinked temporary file. maxMemoryBytes bounds each instance's linear memory; size bounds how
// many idle instances are kept.
func NewPool(ctx context.Context, rt wazero.Runtime, im *Image, maxMemoryBytes uint64, size int) (*Pool, error) {
	if uint64(len(im.memory)) > maxMemoryBytes {
		return nil, fmt.Errorf("new pool: snapshot memory of %d bytes exceeds the limit of %d", len(im.memory), maxMemoryBytes)
	}
	compiled, err := rt.CompileModule(ctx, im.bare)
	if err != nil {
		return nil, fmt.Errorf("new pool: compile: %w", err)
	}
	f, err := os.CreateTemp("", "sgde-snapshot-*")
	if err != nil {
		compiled.Close(ctx)
		return nil, fmt.Errorf("new pool: %w", err)
	}
	_ = os.Remove(f.Name())
	if _, err := f.Write(im.memory); err != nil {
		f.Close()
		compiled.Close(ctx)
		return nil, fmt.Errorf("new pool: write image: %w", err)
	}
	p := &Pool{rt: rt, compiled: compiled, im: im, file: f, maxBytes: maxMemoryBytes, max: max(size, 1)}
	p.watch, _ = sharedWatch() // without one, restores use madvise
	return p, nil
}

// Restore names how instances are put back to the snapshot: "write-watch" (the pages a call
// wrote are copied back from the image) or "madvise" (every written page is dropped and
// faulted in again when next touched).
func (p *Pool) Restore() string {
	if p.watch != nil {
		return "write-watch"
	}
	return "madvise"
}

// Close releases the idle instances, the compiled module and the image.
func (p *Pool) Close(ctx context.Context) error {
	p.mu.Lock()
	free := p.free
	p.free = nil
	p.mu.Unlock()
	for _, in := range free {
		in.mod.Close(ctx)
	}
	return errors.Join(p.compiled.Close(ctx), p.file.Close())
}

// CallOptions configure one Pool.Call.
type CallOptions struct {
	// Fuel is the call's budget, set in the fuel global before the call (unless Meter is set).
	Fuel int64
	// Meter, when set, owns the instance's fuel global for the call: the pool calls Start
	// with it instead of setting Fuel, and Used when the guest has returned.
	Meter Meter
	// Stdout and Stderr receive what the guest prints (io.Discard when nil).
	Stdout, Stderr io.Writer
	// MemoryLimit caps the linear memory in bytes for this call (the pool's maximum when 0 or
	// larger).
	MemoryLimit uint64
}

// Meter gives a call its fuel and accounts for it (a host that hands the budget out in
// slices through out_of_fuel).
type Meter interface {
	// Start sets the fuel global before the call.
	Start(fuel api.MutableGlobal)
	// Used reports the fuel the call used, once the guest has returned.
	Used() int64
}

// CallResult is what one Pool.Call consumed.
type CallResult struct {
	// Fuel is the fuel used: the budget minus the fuel left.
	Fuel int64
	// PeakBytes is the largest size of the linear memory during the call.
	PeakBytes uint64
	// Refused reports that the guest asked to grow its memory past the limit.
	Refused bool
}

// Call runs export on an instance in the snapshot state and returns what it consumed. ctx
// reaches the host functions.
func (p *Pool) Call(ctx context.Context, export string, opt CallOptions) (CallResult, error) {
	var res CallResult
	in, err := p.get(ctx)
	if err != nil {
		return res, err
	}
	in.out.w, in.errw.w = orDiscard(opt.Stdout), orDiscard(opt.Stderr)
	in.mem.callLimit = min(opt.MemoryLimit, p.maxBytes)
	if in.mem.callLimit == 0 {
		in.mem.callLimit = p.maxBytes
	}
	in.mem.peak, in.mem.refused = in.mem.size, false
	if opt.Meter != nil {
		opt.Meter.Start(in.fuel)
	} else {
		in.fuel.Set(uint64(opt.Fuel))
	}
	// The api.Function is kept with the instance: wazero gives each one its own call engine,
	// whose native stack grows during a call and stays grown, so a new one per call would
	// allocate and copy that stack again every time.
	fn := in.funcs[export]
	if fn == nil {
		if fn = in.mod.ExportedFunction(export); fn == nil {
			return res, fmt.Errorf("pool: no exported function %s", export)
		}
		in.funcs[export] = fn
	}
	_, callErr := fn.Call(ctx)
	if opt.Meter != nil {
		res.Fuel = opt.Meter.Used()
	} else {
		res.Fuel = opt.Fuel - int64(in.fuel.Get())
	}
	res.PeakBytes, res.Refused = in.mem.peak, in.mem.refused
	in.out.w, in.errw.w = io.Discard, io.Discard
	var exit *sys.ExitError
	if errors.As(callErr, &exit) && exit.ExitCode() == 0 && !in.mod.IsClosed() {
		callErr = nil
	}
	if callErr != nil || in.mem.grown || in.mod.IsClosed() {
		in.mod.Close(context.WithoutCancel(ctx)) // fall back to a fresh instance next time
		return res, callErr
	}
	if err := p.restore(in); err != nil {
		in.mod.Close(context.WithoutCancel(ctx))
		return res, nil
	}
	p.mu.Lock()
	if len(p.free) < p.max {
		p.free = append(p.free, in)
		in = nil
	}
	p.mu.Unlock()
	if in != nil {
		in.mod.Close(context.WithoutCancel(ctx))
	}
	return res, nil
}

func orDiscard(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}

// restore puts an instance back into the snapshot state.
func (p *Pool) restore(in *pooled) error {
	if err := in.mem.reset(); err != nil {
		return err
	}
	for name, g := range in.globs {
		g.Set(p.im.globals[name])
	}
	in.clk.nano, in.clk.wall = p.im.Nanotime-1e6, p.im.Walltime-1e6
	in.rnd.reset()
	return nil
}

func (p *Pool) get(ctx context.Context) (*pooled, error) {
	p.mu.Lock()
	if n := len(p.free); n > 0 {
		in := p.free[n-1]
		p.free = p.free[:n-1]
		p.mu.Unlock()
		return in, nil
	}
	p.instantiated++
	p.mu.Unlock()
	in := &pooled{
		mem:  &cowMemory{fd: int(p.file.Fd()), image: uint64(len(p.im.memory)), src: p.im.memory, watch: p.watch, limit: p.maxBytes},
		out:  &switchWriter{w: io.Discard},
		errw: &switchWriter{w: io.Discard},
		clk:  &clocks{nano: p.im.Nanotime - 1e6, wall: p.im.Walltime - 1e6},
		rnd:  newResettableRand(),
	}
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions().
		WithStdout(in.out).WithStderr(in.errw).
		WithNanotime(in.clk.nanotime, 1).WithWalltime(in.clk.walltime, 1).
		WithRandSource(in.rnd)
	mod, err := p.rt.InstantiateModule(experimental.WithMemoryAllocator(ctx, in.mem), p.compiled, cfg)
	if err != nil {
		in.mem.Free()
		return nil, fmt.Errorf("pool: instantiate: %w", err)
	}
	in.mod = mod
	in.funcs = map[string]api.Function{}
	in.globs = map[string]api.MutableGlobal{}
	for name := range p.im.globals {
		g, ok := mod.ExportedGlobal(name).(api.MutableGlobal)
		if !ok {
			mod.Close(ctx)
			return nil, fmt.Errorf("pool: global %s is not exported", name)
		}
		in.globs[name] = g
	}
	in.fuel = in.globs[abi.FuelGlobal]
	if in.fuel == nil {
		mod.Close(ctx)
		return nil, fmt.Errorf("pool: %w: module is not metered", ErrUnsupported)
	}
	return in, nil
}

// cowMemory is a linear memory reserved at its limit, whose first image bytes are a private
// mapping of the snapshot file: reads see the image, writes copy the page. A restore puts the
// written pages back: with a write watch it copies the image over exactly the pages written
// since the last restore and protects them again, so pages a call only reads stay mapped and
// pages it writes keep their private copy; without one it drops every private copy
// (MADV_DONTNEED), so the next call faults in every page it touches again. Growing never
// moves the memory.
type cowMemory struct {
	fd           int
	image, limit uint64
	src          []byte      // the image, the content a restore copies back
	watch        *writeWatch // nil: restore with madvise
	buf          []byte      // the whole reservation
	size         uint64      // the linear memory's current size
	grown        bool
	// Per call: the memory limit, the peak size and whether a grow past the limit was refused.
	callLimit uint64
	peak      uint64
	refused   bool
	// Restore scratch: the written ranges and the kernel's output buffer.
	regions []pageRegion
	vec     [64]pageRegion
	// restored counts the pages copied back by the last restore with a watch (for tests and
	// benchmarks).
	restored int
}

func (m *cowMemory) Reallocate(size uint64) []byte {
	if size > m.limit || (m.callLimit > 0 && size > m.callLimit) {
		m.refused = true
		return nil
	}
	m.peak = max(m.peak, size)
	if m.buf == nil {
		if size != m.image {
			return nil // wazero asks for the module's minimum first, which is the image
		}
		b, err := syscall.Mmap(-1, 0, int(m.limit), syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_ANONYMOUS|syscall.MAP_NORESERVE)
		if err != nil {
			return nil
		}
		if m.image > 0 {
			_, _, errno := syscall.Syscall6(syscall.SYS_MMAP, uintptr(unsafe.Pointer(&b[0])), uintptr(m.image),
				syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_PRIVATE|syscall.MAP_FIXED, uintptr(m.fd), 0)
			if errno != 0 {
				_ = syscall.Munmap(b)
				return nil
			}
			if m.watch != nil && m.watch.register(b[:m.image]) != nil {
				m.watch = nil // this instance restores with madvise
			}
		}
		m.buf = b
	}
	if size > m.image {
		m.grown = true
	}
	m.size = size
	return m.buf[:size:size]
}

// reset puts every page the guest wrote since the last reset back to the image.
//
// With a write watch, pages written once stay unprotected and are copied back after every call
// (copying a page costs far less than the fault that would mark it written again), until more
// than hotPages of them accumulate: then they are all protected again, so a call that once
// wrote a lot does not make every later restore copy it.
func (m *cowMemory) reset() error {
	if m.image == 0 {
		return nil
	}
	if m.watch == nil {
		return syscall.Madvise(m.buf[:m.image], syscall.MADV_DONTNEED)
	}
	image := m.buf[:m.image]
	var err error
	if m.regions, err = m.watch.written(image, m.regions[:0], &m.vec, false); err != nil {
		return err
	}
	m.restored = 0
	for _, r := range m.regions {
		copy(image[r.start:r.end], m.src[r.start:r.end])
		m.restored += int(r.end-r.start) / os.Getpagesize()
	}
	if m.restored > hotPages {
		// Protect only after the copy: a copy into protected pages would mark them written.
		_, err = m.watch.written(image, m.regions[:0], &m.vec, true)
	}
	return err
}

// hotPages bounds how many written pages a restore leaves unprotected (1 MiB with 4 KiB pages; see reset).
const hotPages = 256

func (m *cowMemory) Free() {
	if m.buf != nil {
		_ = syscall.Munmap(m.buf)
		m.buf = nil
	}
}

// switchWriter lets a pooled instance write each call's output to that call's writer.
type switchWriter struct{ w io.Writer }

func (s *switchWriter) Write(b []byte) (int, error) { return s.w.Write(b) }

// resettableRand is a deterministic random source that restarts with every call.
type resettableRand struct{ r *rand.ChaCha8 }

var randSeed = [32]byte{'s', 'g', 'd', 'e'}

func newResettableRand() *resettableRand { return &resettableRand{r: rand.NewChaCha8(randSeed)} }

func (r *resettableRand) reset() { r.r = rand.NewChaCha8(randSeed) }

func (r *resettableRand) Read(b []byte) (int, error) { return r.r.Read(b) }

// allocator adapts a cowMemory to experimental.MemoryAllocator for one instantiation.
func (m *cowMemory) Allocate(_, _ uint64) experimental.LinearMemory { return m }
