//go:build linux

package wasm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/fakego"
	"github.com/sgde-project/sgde/internal/proctree"
)

// treeGoal is the resident memory sgde's whole process tree must stay under whatever a single
// hostile input does (issue 14): the build's tree plus the process that started it.
const treeGoal = 1 << 30

// selfAndDescendantsRSS measures this process and the compilers it started.
func selfAndDescendantsRSS(ps []proctree.Proc) (uint64, int) {
	return proctree.TreeRSS(ps, os.Getpid())
}

// TestBuildMemorySupervisor: where no cgroup bounds a build, a compiler process tree whose
// processes each stay under their RLIMIT_AS but together pass the tree's bound (six fake
// compilers of 200 MiB each: 1.2 GiB, a tree the rlimits alone let through) is killed whole
// by the supervisor. The tree, measured independently every 20 ms, stays under 1 GiB; the build
// fails with ErrBuildMemory; no process and no file descriptor is left. Without the supervisor
// the tree reaches 1.2 GiB and the build succeeds.
func TestBuildMemorySupervisor(t *testing.T) {
	if raceEnabled {
		t.Skip("a -race binary cannot run as a memory hog under the builder's RLIMIT_AS")
	}
	g := fakego.InstallHog(t, 6, 200)
	t.Cleanup(g.Kill)
	b := newTestBuilder(t, WithToolchain(ToolchainGo), WithGoCache(t.TempDir()), WithTimeout(time.Minute))
	b.cgroup = nil // the fallback, whatever this machine delegates
	if _, err := b.ToolchainVersion(context.Background()); err != nil {
		t.Fatal(err)
	}
	fds := fakego.OpenFDs()
	s := proctree.Sample(context.Background(), 20*time.Millisecond, selfAndDescendantsRSS)
	start := time.Now()
	_, err := b.Build(context.Background(), []byte(okNode), "ok.go")
	took := time.Since(start)
	peak, n, samples, serr := s.Stop()
	if serr != nil {
		t.Fatal(serr)
	}
	t.Logf("build: %v after %v; tree peak %d MiB over %d processes (%d samples)", err, took.Round(time.Millisecond), peak>>20, n, samples)
	if peak >= treeGoal {
		t.Errorf("the process tree reached %d MiB resident, the goal is under %d MiB", peak>>20, treeGoal>>20)
	}
	if !errors.Is(err, ErrBuildMemory) || !errors.Is(err, ErrBuildFailed) {
		t.Fatalf("build: %v, want ErrBuildMemory (wrapping ErrBuildFailed)", err)
	}
	if alive := g.WaitGone(time.Second); len(alive) != 0 {
		t.Fatalf("compiler processes %v still running 1 s after the build failed", alive)
	}
	if len(g.Pids()) != 7 {
		t.Errorf("the fake compiler started %d processes, want itself and 6 hogs", len(g.Pids()))
	}
	if now := fakego.OpenFDs(); now > fds {
		t.Errorf("%d file descriptors open after the build, %d before", now, fds)
	}
}

// TestBuildMemorySupervisorQuiet: a tree under the bound (the same fake compilers, 100 MiB
// each) builds, untouched by the supervisor.
func TestBuildMemorySupervisorQuiet(t *testing.T) {
	if raceEnabled {
		t.Skip("a -race binary cannot run as a memory hog under the builder's RLIMIT_AS")
	}
	g := fakego.InstallHog(t, 2, 100)
	t.Cleanup(g.Kill)
	b := newTestBuilder(t, WithToolchain(ToolchainGo), WithGoCache(t.TempDir()), WithTimeout(time.Minute))
	b.cgroup = nil
	if _, err := b.Build(context.Background(), []byte(okNode), "ok.go"); err != nil {
		t.Fatalf("build of a tree under the bound: %v", err)
	}
}

// TestBuildMemorySupervisorShared: the bound is on all the builds of the process together. Two
// builds at once (one input may hold several code nodes), each of three fake compilers of
// 200 MiB: each tree stays under the bound, together they pass it (1.2 GiB). At least one is
// killed with ErrBuildMemory, the whole process tree stays under 1 GiB, nothing is left.
func TestBuildMemorySupervisorShared(t *testing.T) {
	if raceEnabled {
		t.Skip("a -race binary cannot run as a memory hog under the builder's RLIMIT_AS")
	}
	g := fakego.InstallHog(t, 3, 200)
	t.Cleanup(g.Kill)
	b := newTestBuilder(t, WithToolchain(ToolchainGo), WithGoCache(t.TempDir()), WithTimeout(time.Minute), WithParallel(2))
	b.cgroup = nil
	if _, err := b.ToolchainVersion(context.Background()); err != nil {
		t.Fatal(err)
	}
	fds := fakego.OpenFDs()
	s := proctree.Sample(context.Background(), 20*time.Millisecond, selfAndDescendantsRSS)
	errs := make(chan error, 2)
	for i := 0; i < 2; i++ {
		src := fmt.Sprintf("// build %d\n%s", i, okNode) // two sources: two compilations
		go func() { _, err := b.Build(context.Background(), []byte(src), "ok.go"); errs <- err }()
	}
	var killed int
	for i := 0; i < 2; i++ {
		err := <-errs
		t.Logf("build: %v", err)
		switch {
		case errors.Is(err, ErrBuildMemory):
			killed++
		case err != nil:
			t.Errorf("build: %v, want success or ErrBuildMemory", err)
		}
	}
	peak, n, samples, serr := s.Stop()
	if serr != nil {
		t.Fatal(serr)
	}
	t.Logf("tree peak %d MiB over %d processes (%d samples)", peak>>20, n, samples)
	if peak >= treeGoal {
		t.Errorf("the process tree reached %d MiB resident, the goal is under %d MiB", peak>>20, treeGoal>>20)
	}
	if killed == 0 {
		t.Error("no build was killed although the two trees together passed the bound")
	}
	if alive := g.WaitGone(time.Second); len(alive) != 0 {
		t.Fatalf("compiler processes %v still running 1 s after the builds ended", alive)
	}
	if now := fakego.OpenFDs(); now > fds {
		t.Errorf("%d file descriptors open after the builds, %d before", now, fds)
	}
}

// TestHostileBuildTreeRSS builds the hostile build bombs of testdata/hostile with the real
// compiler at the default limits, the supervisor in charge where no cgroup is delegated: each
// fails with ErrBuildFailed, the compiler's process tree (read independently every 20 ms) stays
// under 1 GiB together with this process, and no compiler process or file descriptor is left
// 1 s later. Long: the two builds take about 4 s of CPU.
func TestHostileBuildTreeRSS(t *testing.T) {
	if os.Getenv("SGDE_TEST_LONG") == "" {
		t.Skip("long: real hostile builds; run with make test-long or SGDE_TEST_LONG=1")
	}
	for _, file := range []string{"string_doubling.go", "build_forever.go"} {
		t.Run(file, func(t *testing.T) {
			src, err := os.ReadFile("../testdata/hostile/" + file)
			if err != nil {
				t.Fatal(err)
			}
			b := newTestBuilder(t, WithCacheDir(""), WithTimeout(time.Minute))
			if _, err := b.ToolchainVersion(context.Background()); err != nil {
				t.Fatal(err)
			}
			fds := fakego.OpenFDs()
			s := proctree.Sample(context.Background(), 20*time.Millisecond, selfAndDescendantsRSS)
			start := time.Now()
			_, err = b.Build(context.Background(), src, file)
			took := time.Since(start)
			peak, n, samples, serr := s.Stop()
			if serr != nil {
				t.Fatal(serr)
			}
			t.Logf("after %v: tree peak %d MiB over %d processes (%d samples); %.120q", took.Round(time.Millisecond), peak>>20, n, samples, err)
			if peak >= treeGoal {
				t.Errorf("the process tree reached %d MiB resident, the goal is under %d MiB", peak>>20, treeGoal>>20)
			}
			if !errors.Is(err, ErrBuildFailed) || errors.Is(err, ErrBuildTimeout) {
				t.Fatalf("build: %v, want ErrBuildFailed from a memory bound, not a timeout", err)
			}
			var left int
			for deadline := time.Now().Add(time.Second); ; time.Sleep(10 * time.Millisecond) {
				ps, err := proctree.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				if _, left = descendantsRSS(ps); left == 0 || time.Now().After(deadline) {
					break
				}
			}
			if left != 0 {
				t.Errorf("%d compiler processes left 1 s after the build failed", left)
			}
			if now := fakego.OpenFDs(); now > fds {
				t.Errorf("%d file descriptors open after the build, %d before", now, fds)
			}
		})
	}
}

// descendantsRSS measures the processes this one started (a build's compiler tree).
func descendantsRSS(ps []proctree.Proc) (uint64, int) {
	self := os.Getpid()
	all, n := proctree.TreeRSS(ps, self)
	for _, p := range ps {
		if p.Pid == self {
			return all - p.RSS, n - 1
		}
	}
	return all, n
}

// BenchmarkBuildTreeRSS measures the peak resident memory of the compiler's process tree (read
// from /proc every 20 ms) for the biggest legitimate build the project does, arith_program.go
// into an empty GOCACHE (the wasip1 standard library compiles too), the same warm, and the
// hostile builds of testdata/hostile. Long (a cold build costs a minute of CPU); figures in
// docs/BENCHMARKS.md.
func BenchmarkBuildTreeRSS(b *testing.B) {
	if os.Getenv("SGDE_TEST_LONG") == "" {
		b.Skip("long: a cold build; run with SGDE_TEST_LONG=1")
	}
	gocache := b.TempDir()
	for _, c := range []struct {
		name, file string
		timeout    time.Duration
	}{
		{"cold-arith", "../compiler/library/modules/arith/arith_program.go", 10 * time.Minute},
		{"warm-arith", "../compiler/library/modules/arith/arith_program.go", 10 * time.Minute},
		{"string-doubling", "../testdata/hostile/string_doubling.go", 10 * time.Minute},
		{"build-forever", "../testdata/hostile/build_forever.go", time.Minute},
	} {
		src, err := os.ReadFile(c.file)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				bld, err := NewBuilder(WithCacheDir(""), WithGoCache(gocache), WithCacheLimits(0, 0), WithTimeout(c.timeout))
				if err != nil {
					b.Fatal(err)
				}
				// A new source each time: the compiler runs, never the artefact cache.
				src := append([]byte(fmt.Sprintf("// %s %d\n", c.name, time.Now().UnixNano())), src...)
				s := proctree.Sample(context.Background(), 20*time.Millisecond, descendantsRSS)
				start := time.Now()
				_, err = bld.Build(context.Background(), src, c.name+".go")
				took := time.Since(start)
				peak, n, _, serr := s.Stop()
				if serr != nil {
					b.Fatal(serr)
				}
				b.Logf("%s: tree peak %d MiB over %d processes, %v, build error: %.200v", c.name, peak>>20, n, took.Round(time.Millisecond), err)
				b.ReportMetric(float64(peak)/(1<<20), "peak-MiB")
			}
		})
	}
}
