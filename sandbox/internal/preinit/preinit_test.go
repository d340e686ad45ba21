package preinit

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"
	"github.com/tetratelabs/wazero/sys"

	"github.com/sgde-project/sgde/internal/testcache"
	"github.com/sgde-project/sgde/sandbox/internal/rewrite"
	"github.com/sgde-project/sgde/wasm/abi"
)

// entryFile is what a builder would add to a node for a reactor build: an export that runs the
// node's main (and so guest.Run) once per call, so that the same node source works.
const entryFile = `package main

import sgdeguest "github.com/sgde-project/sgde/wasm/guest"

func init() { sgdeguest.Prewarm() }

//go:wasmexport sgde_call
func sgdeCall() { main() }
`

// buildReactor builds the node at srcPath with -buildmode=c-shared in a private module, as
// wasm.Builder does for commands, and meters it.
func buildReactor(t testing.TB, srcPath string) []byte {
	t.Helper()
	if testing.Short() {
		t.Skip("builds a Go guest")
	}
	src, err := os.ReadFile(srcPath)
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	files := map[string][]byte{
		"node/go.mod":        []byte("module sgdenode\n\ngo 1.24\n\nrequire github.com/sgde-project/sgde v0.0.0\n\nreplace github.com/sgde-project/sgde => ../sdk\n"),
		"node/node.go":       src,
		"node/sgde_entry.go": []byte(entryFile),
		"sdk/go.mod":         []byte("module github.com/sgde-project/sgde\n\ngo 1.24\n"),
	}
	guestDir := "../../../wasm/guest"
	entries, err := os.ReadDir(guestDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if n := e.Name(); strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			b, err := os.ReadFile(filepath.Join(guestDir, n))
			if err != nil {
				t.Fatal(err)
			}
			files["sdk/wasm/guest/"+n] = b
		}
	}
	for p, b := range files {
		if err := os.MkdirAll(filepath.Dir(filepath.Join(tmp, p)), 0o700); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, p), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	env := append(os.Environ(), "GOOS=wasip1", "GOARCH=wasm", "CGO_ENABLED=0", "GOFLAGS=", "GOPROXY=off", "GOWORK=off")
	if d := os.Getenv("SGDE_GOCACHE"); d != "" {
		env = append(env, "GOCACHE="+d) // set by testcache.Main: the go command's own cache
	}
	ldflags := "-ldflags=-s -w"
	if os.Getenv("PROF_SRC") != "" {
		ldflags = "-ldflags=" // keep the name section: profiles name functions
	}
	cmd := exec.Command("go", "build", "-buildmode=c-shared", "-trimpath", "-buildvcs=false", ldflags, "-o", "node.wasm", ".")
	cmd.Dir = filepath.Join(tmp, "node")
	cmd.Env = env
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("reactor build: %v\n%s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(tmp, "node", "node.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	metered, err := rewrite.NewPipeline().WithMergeData(rewrite.DefaultMergeGap).WithMeter(0).WithStackLimit(20000).Rewrite(raw)
	if err != nil {
		t.Fatal(err)
	}
	return metered
}

type stateKey struct{}

type callState struct {
	input, output []byte
}

// newRuntime is a runtime with WASI and the "sgde" host functions of the sandbox contract.
func newRuntime(t testing.TB) wazero.Runtime {
	t.Helper()
	ctx := context.Background()
	cache, err := wazero.NewCompilationCacheWithDir(testcache.Dir("wazero-preinit"))
	if err != nil {
		t.Fatal(err)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCompilationCache(cache))
	t.Cleanup(func() { rt.Close(ctx); cache.Close(ctx) })
	wasi_snapshot_preview1.MustInstantiate(ctx, rt)
	st := func(ctx context.Context) *callState { return ctx.Value(stateKey{}).(*callState) }
	_, err = rt.NewHostModuleBuilder("sgde").
		NewFunctionBuilder().WithFunc(func(ctx context.Context) uint32 { return uint32(len(st(ctx).input)) }).Export(abi.InputSize).
		NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, p uint32) { m.Memory().Write(p, st(ctx).input) }).Export(abi.InputRead).
		NewFunctionBuilder().WithFunc(func(ctx context.Context, m api.Module, p, n uint32) {
		b, _ := m.Memory().Read(p, n)
		st(ctx).output = bytes.Clone(b)
	}).Export(abi.OutputWrite).
		NewFunctionBuilder().WithFunc(func(context.Context) { panic(rewrite.ErrOutOfFuel) }).Export(abi.OutOfFuel).
		NewFunctionBuilder().WithFunc(func(context.Context) { panic(rewrite.ErrStackOverflow) }).Export(abi.StackOverflow).
		Instantiate(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return rt
}

// call runs sgde_call once on mod with input and returns the output and the fuel used.
func call(t testing.TB, mod api.Module, input string) (string, uint64) {
	t.Helper()
	st := &callState{input: []byte(input)}
	g := mod.ExportedGlobal(abi.FuelGlobal).(api.MutableGlobal)
	const budget = 1 << 40
	g.Set(budget)
	_, err := mod.ExportedFunction("sgde_call").Call(context.WithValue(context.Background(), stateKey{}, st))
	var exit *sys.ExitError
	if err != nil && !(errors.As(err, &exit) && exit.ExitCode() == 0) {
		t.Fatalf("sgde_call: %v", err)
	}
	return string(st.output), budget - g.Get()
}

// TestSnapshotMatchesInitialised: a fresh instance of the snapshot answers exactly as an
// instance initialised by _initialize does (same output, same fuel for the call), on every
// instance; and the snapshot's _initialize is a no-op.
func TestSnapshotMatchesInitialised(t *testing.T) {
	metered := buildReactor(t, "../../../compiler/library/modules/arith/arith_program.go")
	rt := newRuntime(t)
	ctx := context.Background()
	im, err := Take(ctx, rt, metered, 1<<40, wazero.NewModuleConfig().WithName(""), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("init used %d fuel; snapshot %d pages, %d -> %d bytes", im.Fuel, im.Pages, len(metered), len(im.Wasm))

	inputs := []string{
		`{"program": "def solution():\n    return 2**70 + 1\n"}`,
		`{"program": "def solution():\n    x = 7\n    return x * 6 / 4\n"}`,
	}
	// Reference: instantiate the original, run _initialize, then call.
	plain, err := rt.CompileModule(ctx, metered)
	if err != nil {
		t.Fatal(err)
	}
	snap, err := rt.CompileModule(ctx, im.Wasm)
	if err != nil {
		t.Fatal(err)
	}
	for _, in := range inputs {
		ref, err := rt.InstantiateModule(ctx, plain, wazero.NewModuleConfig().WithName("").WithStartFunctions())
		if err != nil {
			t.Fatal(err)
		}
		ref.ExportedGlobal(abi.FuelGlobal).(api.MutableGlobal).Set(1 << 40)
		if _, err := ref.ExportedFunction(abi.ReactorInit).Call(ctx); err != nil {
			t.Fatal(err)
		}
		wantOut, wantFuel := call(t, ref, in)
		ref.Close(ctx)
		if !strings.Contains(wantOut, `"output"`) {
			t.Fatalf("reference output %q", wantOut)
		}
		for i := 0; i < 2; i++ {
			mod, err := rt.InstantiateModule(ctx, snap, im.Clocks(wazero.NewModuleConfig().WithName("").WithStartFunctions()))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := mod.ExportedFunction(abi.ReactorInit).Call(ctx); err != nil {
				t.Fatalf("snapshot _initialize must be a no-op: %v", err)
			}
			got, fuel := call(t, mod, in)
			mod.Close(ctx)
			if got != wantOut || fuel != wantFuel {
				t.Fatalf("instance %d: output %q fuel %d, want %q fuel %d", i, got, fuel, wantOut, wantFuel)
			}
		}
		t.Logf("%s -> %s (%d fuel)", in, wantOut, wantFuel)
	}
}

// TestSnapshotInitNeverEnds: a package initialiser that never ends fails the snapshot with
// ErrInitFuel instead of hanging it.
func TestSnapshotInitNeverEnds(t *testing.T) {
	metered := buildReactor(t, "../../../testdata/hostile/init_forever.go")
	rt := newRuntime(t)
	_, err := Take(context.Background(), rt, metered, 100_000_000, wazero.NewModuleConfig().WithName(""), nil)
	if !errors.Is(err, ErrInitFuel) {
		t.Fatalf("err = %v, want ErrInitFuel", err)
	}
}

func TestNonZeroRuns(t *testing.T) {
	for _, tt := range []struct {
		b    []byte
		gap  int
		want [][2]int
	}{
		{nil, 4, nil},
		{[]byte{0, 0, 0}, 4, nil},
		{[]byte{1, 0, 0, 2}, 4, [][2]int{{0, 4}}},
		{[]byte{1, 0, 0, 2}, 2, [][2]int{{0, 4}}},
		{[]byte{1, 0, 0, 2}, 1, [][2]int{{0, 1}, {3, 4}}},
		{[]byte{0, 1, 1, 0, 0, 0, 0, 0, 3, 0}, 3, [][2]int{{1, 3}, {8, 9}}},
		{[]byte{5, 0, 0}, 1, [][2]int{{0, 1}}},
	} {
		got := nonZeroRuns(tt.b, tt.gap)
		if len(got) != len(tt.want) {
			t.Fatalf("nonZeroRuns(%v, %d) = %v, want %v", tt.b, tt.gap, got, tt.want)
		}
		for i := range got {
			if got[i] != tt.want[i] {
				t.Fatalf("nonZeroRuns(%v, %d) = %v, want %v", tt.b, tt.gap, got, tt.want)
			}
		}
	}
}

// TestSnapshotRefusesTableWrites: a module that could change a table or drop a segment cannot
// be snapshotted, since a pool would carry that state from one call into the next.
func TestSnapshotRefusesTableWrites(t *testing.T) {
	rt := newRuntime(t)
	for _, op := range []string{"table.set 0 (i32.const 0) (ref.null func)", "drop (table.grow 0 (ref.null func) (i32.const 1))", "elem.drop 0", "data.drop 0"} {
		t.Run(op, func(t *testing.T) {
			wat := `(module
  (memory 1)
  (table 1 funcref)
  (elem func $init)
  (data "x")
  (global $fuel (mut i64) (i64.const 0))
  (export "sgde_fuel" (global $fuel))
  (func $init (export "_initialize"))
  (func (export "sgde_call") (` + op + `)))`
			_, err := Take(context.Background(), rt, wat2wasm(t, wat), 1<<20, wazero.NewModuleConfig(), nil)
			if !errors.Is(err, ErrUnsupported) {
				t.Fatalf("Take: %v, want ErrUnsupported", err)
			}
		})
	}
}

// wat2wasm assembles a module with wabt's wat2wasm (installed by make deps).
func wat2wasm(t *testing.T, wat string) []byte {
	t.Helper()
	if _, err := exec.LookPath("wat2wasm"); err != nil {
		t.Skip("wat2wasm (wabt) not installed: run make deps")
	}
	dir := t.TempDir()
	src := filepath.Join(dir, "m.wat")
	if err := os.WriteFile(src, []byte(wat), 0o600); err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(dir, "m.wasm")
	if b, err := exec.Command("wat2wasm", "--enable-all", "-o", out, src).CombinedOutput(); err != nil {
		t.Fatalf("wat2wasm: %v\n%s", err, b)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
