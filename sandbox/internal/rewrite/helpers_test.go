package rewrite

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/sgde-project/sgde/internal/testcache"
	"github.com/sgde-project/sgde/wasm/abi"
)

// Go guests are built once per test binary into a temp dir; the Go build cache is shared with
// every other build on the machine, so repeated test runs only link.
var (
	guestMu    sync.Mutex
	guestOnce  = map[string]*sync.Once{}
	guestBytes = map[string][]byte{}
	guestErr   = map[string]error{}
	guestDir   string

	cacheOnce sync.Once
	wzCache   wazero.CompilationCache
)

// TestMain removes the guests' directory and keeps the compilation cache in one scratch
// directory removed at the end (internal/testcache).
func TestMain(m *testing.M) {
	code := testcache.Main(m)
	if guestDir != "" {
		os.RemoveAll(guestDir)
	}
	os.Exit(code)
}

// goGuest returns the wasip1 build of testdata/guests/name.
func goGuest(tb testing.TB, name string) []byte {
	tb.Helper()
	guestMu.Lock()
	once, ok := guestOnce[name]
	if !ok {
		once = new(sync.Once)
		guestOnce[name] = once
	}
	guestMu.Unlock()
	once.Do(func() {
		guestMu.Lock()
		if guestDir == "" {
			d, err := os.MkdirTemp("", "sgde-rewrite-guests")
			if err != nil {
				guestErr[name] = err
				guestMu.Unlock()
				return
			}
			guestDir = d
		}
		dir := guestDir
		guestMu.Unlock()
		out := filepath.Join(dir, name+".wasm")
		cmd := exec.Command("go", "build", "-trimpath", "-o", out, "./testdata/guests/"+name)
		cmd.Env = append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0")
		msg, err := cmd.CombinedOutput()
		var b []byte
		if err == nil {
			b, err = os.ReadFile(out)
		} else {
			err = errors.New(string(msg))
		}
		guestMu.Lock()
		guestBytes[name], guestErr[name] = b, err
		guestMu.Unlock()
	})
	guestMu.Lock()
	defer guestMu.Unlock()
	if err := guestErr[name]; err != nil {
		tb.Fatalf("build guest %s: %v", name, err)
	}
	return guestBytes[name]
}

// compilationCache is shared by every runtime the tests create.
func compilationCache(tb testing.TB) wazero.CompilationCache {
	cacheOnce.Do(func() {
		c, err := wazero.NewCompilationCacheWithDir(testcache.Dir("wazero-rewrite"))
		if err != nil {
			c = wazero.NewCompilationCache()
		}
		wzCache = c
	})
	return wzCache
}

func newRuntime(ctx context.Context, tb testing.TB, cfg wazero.RuntimeConfig) wazero.Runtime {
	tb.Helper()
	if cfg == nil {
		cfg = wazero.NewRuntimeConfig()
	}
	r := wazero.NewRuntimeWithConfig(ctx, cfg.WithCompilationCache(compilationCache(tb)))
	tb.Cleanup(func() { r.Close(ctx) })
	return r
}

// hostInput is what the "sgde" host module hands to guests built on the guest SDK.
type hostIO struct {
	input  []byte
	output []byte
}

// instantiateHost registers the "sgde" host module: the guest SDK's I/O functions and the
// rewriter's trap imports, which panic with this package's sentinels.
func instantiateHost(ctx context.Context, tb testing.TB, r wazero.Runtime, io *hostIO) {
	tb.Helper()
	_, err := r.NewHostModuleBuilder(abi.HostModule).
		NewFunctionBuilder().WithFunc(func() { panic(ErrOutOfFuel) }).Export(abi.OutOfFuel).
		NewFunctionBuilder().WithFunc(func() { panic(ErrStackOverflow) }).Export(abi.StackOverflow).
		NewFunctionBuilder().WithFunc(func() uint32 { return uint32(len(io.input)) }).Export("input_size").
		NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, ptr uint32) {
		if !m.Memory().Write(ptr, io.input) {
			panic("input_read out of range")
		}
	}).Export("input_read").
		NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, ptr, n uint32) {
		b, ok := m.Memory().Read(ptr, n)
		if !ok {
			panic("output_write out of range")
		}
		io.output = append([]byte(nil), b...)
	}).Export("output_write").
		Instantiate(ctx)
	if err != nil {
		tb.Fatal(err)
	}
}

// runResult is what one run of a guest's _start produced.
type runResult struct {
	stdout   string
	output   string // envelope written through sgde.output_write
	exit     uint32
	err      error // nil, or a trap / host sentinel
	fuelUsed int64
	depth    int32
}

// runGuest instantiates wasm and calls _start with args, giving it fuel when the module is
// metered. It follows the host contract documented in the package.
func runGuest(ctx context.Context, tb testing.TB, r wazero.Runtime, compiled wazero.CompiledModule, io *hostIO, fuel int64, args ...string) runResult {
	tb.Helper()
	var stdout bytes.Buffer
	cfg := wazero.NewModuleConfig().WithName("").WithStartFunctions().
		WithArgs(append([]string{"guest"}, args...)...).WithStdout(&stdout).WithStderr(&stdout)
	mod, err := r.InstantiateModule(ctx, compiled, cfg)
	if err != nil {
		tb.Fatalf("instantiate: %v", err)
	}
	defer mod.Close(ctx)
	g, _ := mod.ExportedGlobal(abi.FuelGlobal).(api.MutableGlobal)
	if g != nil {
		g.Set(uint64(fuel))
	}
	d, _ := mod.ExportedGlobal(abi.DepthGlobal).(api.MutableGlobal)
	_, err = mod.ExportedFunction("_start").Call(ctx)
	res := runResult{stdout: stdout.String()}
	if io != nil {
		res.output = string(io.output)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		res.exit = exit.ExitCode()
		err = nil
	}
	res.err = err
	if g != nil {
		res.fuelUsed = fuel - int64(g.Get())
	}
	if d != nil {
		res.depth = int32(d.Get())
	}
	return res
}

// newGuestRuntime returns a runtime with WASI and the host module, plus the compiled module.
func newGuestRuntime(ctx context.Context, tb testing.TB, wasm []byte, io *hostIO) (wazero.Runtime, wazero.CompiledModule) {
	tb.Helper()
	r := newRuntime(ctx, tb, nil)
	wasi_snapshot_preview1.MustInstantiate(ctx, r)
	if io == nil {
		io = &hostIO{}
	}
	instantiateHost(ctx, tb, r, io)
	c, err := r.CompileModule(ctx, wasm)
	if err != nil {
		tb.Fatalf("compile: %v", err)
	}
	return r, c
}

// wasmValidate runs wabt's wasm-validate on b, skipping when it is not installed.
func wasmValidate(tb testing.TB, b []byte) {
	tb.Helper()
	path, err := exec.LookPath("wasm-validate")
	if err != nil {
		tb.Skip("wasm-validate not on PATH (apt-get install wabt; the Makefile installs it)")
	}
	f := filepath.Join(tb.TempDir(), "m.wasm")
	if err := os.WriteFile(f, b, 0o644); err != nil {
		tb.Fatal(err)
	}
	if out, err := exec.Command(path, f).CombinedOutput(); err != nil {
		tb.Fatalf("wasm-validate: %v\n%s", err, out)
	}
}

func haveWasmValidate() bool {
	_, err := exec.LookPath("wasm-validate")
	return err == nil
}
