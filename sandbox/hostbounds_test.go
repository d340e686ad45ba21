//go:build linux

package sandbox_test

import (
	"context"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/sandbox"
)

// hostRSSBound is what the host may hold while running any one hostile input at default
// limits (the bound for the whole sgde process tree).
const hostRSSBound = 1 << 30

// resetPeakRSS clears the kernel's high-water mark of this process's resident set
// (/proc/self/clear_refs, value 5), so that peakRSS measures from now on.
func resetPeakRSS(t *testing.T) {
	t.Helper()
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Skipf("cannot reset the peak RSS: %v", err)
	}
}

// peakRSS is VmHWM of this process in bytes.
func peakRSS(t *testing.T) uint64 {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(l, "VmHWM:"); ok {
			kb, err := strconv.ParseUint(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Fatal("no VmHWM in /proc/self/status")
	return 0
}

// TestHostileHostBounds loads and calls every hand-written hostile module (testdata/hostile/*.wasm)
// on the default engine (metered wazero) at default limits with a 0.5 s timeout, one at a time,
// and asserts what the host paid, not only the outcome: the process's peak RSS stays under
// 1 GiB and each input returns within the timeout plus 1 s, loading included.
func TestHostileHostBounds(t *testing.T) {
	skipUnderRace(t)
	files, err := filepath.Glob(filepath.Join(hostileDir, "*.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	sort.Strings(files)
	e := metered(t)
	const timeout = 500 * time.Millisecond
	for _, p := range files {
		t.Run(filepath.Base(p), func(t *testing.T) {
			raw := mustRead(t, p)
			resetPeakRSS(t)
			ctx, cancel := context.WithTimeout(context.Background(), timeout)
			defer cancel()
			start := time.Now()
			var res sandbox.Result
			mod, err := e.Load(sandbox.WithLoadLimits(ctx, sandbox.Limits{Timeout: timeout}), raw)
			if err == nil {
				res, err = mod.Call(context.Background(), []byte(`{"x": 1}`), sandbox.Limits{Timeout: timeout})
				_ = mod.Close(context.Background())
			}
			took := time.Since(start)
			rss := peakRSS(t)
			t.Logf("outcome %q in %v, peak RSS %d MiB (%v)", sandbox.Kind(err), took.Round(time.Millisecond), rss>>20, err)
			if took > timeout+time.Second {
				t.Errorf("took %v, more than the timeout %v plus 1s", took, timeout)
			}
			if rss > hostRSSBound {
				t.Errorf("peak RSS %d MiB, more than %d MiB", rss>>20, hostRSSBound>>20)
			}
			if len(res.Stdout) > plans.DefaultMaxOutputBytes+100 || len(res.Stderr) > plans.DefaultMaxOutputBytes+100 {
				t.Errorf("stdout %d / stderr %d bytes exceed the cap", len(res.Stdout), len(res.Stderr))
			}
		})
	}
}

// checkBuildBounds asserts what a failed hostile build left: no artefact in cacheDir and no
// compiler process that held more than hostRSSBound (the largest resident set of any child this
// process has waited for, getrusage(RUSAGE_CHILDREN)).
func checkBuildBounds(t testing.TB, cacheDir string) {
	t.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_CHILDREN, &ru); err != nil {
		t.Fatal(err)
	}
	if rss := uint64(ru.Maxrss) << 10; rss > hostRSSBound {
		t.Errorf("a compiler process reached %d MiB resident, more than %d MiB", rss>>20, hostRSSBound>>20)
	}
	var files []string
	_ = filepath.WalkDir(cacheDir, func(p string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			files = append(files, p)
		}
		return nil
	})
	if len(files) > 0 {
		t.Errorf("the failed build left %v in the artefact cache", files)
	}
}

// BenchmarkCancelLatency measures the time from a caller's cancellation to the return of a call
// busy in a host function (random_get over 64 MiB, fd_write with a million iovecs, in loops) or
// in guest code (loop_start): the goal is under 100 ms (docs/BENCHMARKS.md).
func BenchmarkCancelLatency(b *testing.B) {
	for _, f := range []string{"random_get_loop.wasm", "fd_write_iovecs.wasm", "loop_start.wasm"} {
		b.Run(f, func(b *testing.B) {
			mod, err := metered(b).Load(context.Background(), mustRead(b, filepath.Join(hostileDir, f)))
			if err != nil {
				b.Fatal(err)
			}
			defer mod.Close(context.Background())
			var total, worst time.Duration
			for i := 0; i < b.N; i++ {
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan time.Time, 1)
				go func() {
					_, _ = mod.Call(ctx, []byte(`{}`), sandbox.Limits{Timeout: time.Minute})
					done <- time.Now()
				}()
				time.Sleep(50 * time.Millisecond)
				start := time.Now()
				cancel()
				lat := (<-done).Sub(start)
				total, worst = total+lat, max(worst, lat)
			}
			b.ReportMetric(float64(total.Microseconds())/float64(b.N), "us/cancel")
			b.ReportMetric(float64(worst.Microseconds()), "worst-us")
		})
	}
}
