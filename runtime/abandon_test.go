//go:build unix

package runtime_test

import (
	"context"
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/fakego"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/wasm"
)

// waitFor polls cond for up to 5 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func waiters(r *runtime.Runner) int {
	n := 0
	for _, w := range runtime.BuildWaiters(r) {
		n += w
	}
	return n
}

// TestSharedBuildCancelledWithLastWaiter: a build several callers wait for goes on while any of
// them waits, is cancelled when the last one gives up (a run cancelled, a request gone), and the
// next caller starts a fresh build; a build a waiter left because its node timed out is kept
// even when every waiter is gone.
func TestSharedBuildCancelledWithLastWaiter(t *testing.T) {
	before := goruntime.NumGoroutine()
	b := &fakeBuilder{gate: make(chan struct{})}
	r, err := runtime.New(runtime.Options{Student: constant("2"), Engine: &fakeEngine{}, Builder: b})
	if err != nil {
		t.Fatal(err)
	}
	prog, err := r.Prepare(mustPlan(t, planLinear))
	if err != nil {
		t.Fatal(err)
	}
	ctx1, cancel1 := context.WithCancel(context.Background())
	ctx2, cancel2 := context.WithCancel(context.Background())
	errs := make(chan error, 2)
	go func() { errs <- prog.Warm(ctx1) }()
	go func() { errs <- prog.Warm(ctx2) }()
	waitFor(t, "two waiters", func() bool { return waiters(r) == 2 })
	cancel1()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("first waiter: %v", err)
	}
	time.Sleep(20 * time.Millisecond)
	if n := b.cancelled.Load(); n != 0 || waiters(r) != 1 {
		t.Fatalf("build cancelled (%d) or waiters %d while one caller still waits", n, waiters(r))
	}
	cancel2()
	if err := <-errs; !errors.Is(err, context.Canceled) {
		t.Fatalf("second waiter: %v", err)
	}
	waitFor(t, "the abandoned build to be cancelled", func() bool { return b.cancelled.Load() == 1 })

	// The next caller builds afresh, and a node timeout keeps the build it started.
	p := mustPlan(t, strings.Replace(planLinear, "    substrate: code\n", "    substrate: code\n    timeout: 20ms\n", 1))
	in := map[string]any{"question": "q"}
	if _, err := r.Run(context.Background(), p, in); runtime.KindOf(err) != runtime.KindTimeout {
		t.Fatalf("run with a node timeout: %v, want timeout", err)
	}
	time.Sleep(20 * time.Millisecond)
	if b.builds.Load() != 2 || b.cancelled.Load() != 1 {
		t.Fatalf("after a node timeout: %d builds, %d cancelled; want a second build, still running", b.builds.Load(), b.cancelled.Load())
	}
	close(b.gate)
	res, err := r.Run(context.Background(), mustPlan(t, planLinear), in)
	if err != nil || fmt.Sprint(res.Output) != "4" || b.builds.Load() != 2 {
		t.Fatalf("run after the kept build: %v, %v, %d builds", res.Output, err, b.builds.Load())
	}
	r.Close(context.Background())
	waitGoroutines(t, before)
}

// passBuilder compiles with a real *wasm.Builder (here driving a fake go command, so that the
// compiler is a real process tree) and hands the fake engine the source.
type passBuilder struct{ b *wasm.Builder }

func (p passBuilder) Build(ctx context.Context, src []byte, name string) (*wasm.Artifact, error) {
	art, err := p.b.Build(ctx, src, name)
	if err != nil {
		return nil, err
	}
	cp := *art
	cp.Wasm = src
	return &cp, nil
}

// realSource is planLinear's code node as source the real builder accepts; its first line still
// names the fake engine's behaviour.
const realSource = `"// double\npackage main\n\nimport \"github.com/sgde-project/sgde/wasm/guest\"\n\nfunc main() { guest.Run(func(in map[string]any) (map[string]any, error) { return in, nil }) }\n"`

// realPlan is planLinear with realSource and the given code-node timeout ("" for none).
func realPlan(t *testing.T, timeout string) string {
	p := strings.Replace(planLinear, `"// double\npackage main\n"`, realSource, 1)
	if timeout != "" {
		p = strings.Replace(p, "    substrate: code\n", "    substrate: code\n    timeout: "+timeout+"\n", 1)
	}
	if p == planLinear {
		t.Fatal("planLinear changed: realPlan no longer applies")
	}
	return p
}

func fakeCompilerRunner(t *testing.T, delay time.Duration) (*runtime.Runner, *fakego.Go) {
	t.Helper()
	g := fakego.Install(t, delay)
	t.Cleanup(g.Kill)
	wb, err := wasm.NewBuilder(wasm.WithToolchain(wasm.ToolchainGo), wasm.WithCacheDir(t.TempDir()), wasm.WithGoCache(t.TempDir()))
	if err != nil {
		t.Fatal(err)
	}
	r, err := runtime.New(runtime.Options{Student: constant("2"), Engine: &fakeEngine{}, Builder: passBuilder{wb}})
	if err != nil {
		t.Fatal(err)
	}
	return r, g
}

// TestAbandonedBuildKillsCompiler: when the only run waiting for a build ends (as a request
// does when serve answers 504), the compiler's whole process tree is gone within 1 s, though
// the build would have taken a minute.
func TestAbandonedBuildKillsCompiler(t *testing.T) {
	before := goruntime.NumGoroutine()
	r, g := fakeCompilerRunner(t, time.Minute)
	fds := fakego.OpenFDs()
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := r.Run(ctx, mustPlan(t, realPlan(t, "")), map[string]any{"question": "q"}); err == nil {
		t.Fatal("run finished a one-minute build in 300 ms")
	}
	if len(g.Pids()) < 3 {
		t.Fatalf("the compiler had not started its tree (%v): the test proves nothing", g.Pids())
	}
	if alive := g.WaitGone(time.Second); len(alive) != 0 {
		t.Fatalf("compiler processes %v still running 1 s after the last run waiting for the build ended", alive)
	}
	r.Close(context.Background())
	waitGoroutines(t, before)
	if now := fakego.OpenFDs(); now > fds {
		t.Errorf("%d file descriptors open after the abandoned build, %d before", now, fds)
	}
}

// TestTimedOutNodeKeepsCompiler: a run whose node times out while the build goes on leaves the
// compiler running; the build finishes by itself and the next run uses it (one compilation).
func TestTimedOutNodeKeepsCompiler(t *testing.T) {
	r, g := fakeCompilerRunner(t, 800*time.Millisecond)
	defer r.Close(context.Background())
	in := map[string]any{"question": "q"}
	if _, err := r.Run(context.Background(), mustPlan(t, realPlan(t, "50ms")), in); runtime.KindOf(err) != runtime.KindTimeout {
		t.Fatalf("first run: %v, want timeout", err)
	}
	waitFor(t, "the compiler to start", func() bool { return len(g.Pids()) >= 3 })
	if alive := g.Alive(); len(alive) == 0 {
		t.Fatal("the compiler was stopped when a node timed out; the build should outlive it")
	}
	if alive := g.WaitGone(5 * time.Second); len(alive) != 0 {
		t.Fatalf("compiler processes %v still running after the build's own duration", alive)
	}
	res, err := r.Run(context.Background(), mustPlan(t, realPlan(t, "")), in)
	if err != nil || fmt.Sprint(res.Output) != "4" || len(g.Pids()) != 3 {
		t.Fatalf("second run: %v, %v; compiler processes started %v, want one compilation", res.Output, err, g.Pids())
	}
}
