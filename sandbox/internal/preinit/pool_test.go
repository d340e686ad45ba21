//go:build linux

package preinit

import (
	"context"
	"errors"
	"fmt"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/sgde-project/sgde/sandbox/internal/rewrite"
)

func newPool(t testing.TB, rt wazero.Runtime, metered []byte, size int, warmInput string) *Pool {
	t.Helper()
	ctx := context.Background()
	var warm func(context.Context, api.Module) error
	if warmInput != "" {
		warm = func(ctx context.Context, mod api.Module) error {
			st := &callState{input: []byte(warmInput)}
			_, err := mod.ExportedFunction("sgde_call").Call(context.WithValue(ctx, stateKey{}, st))
			return err
		}
	}
	im, err := Take(ctx, rt, metered, 1<<40, wazero.NewModuleConfig().WithName(""), warm)
	if err != nil {
		t.Fatal(err)
	}
	p, err := NewPool(ctx, rt, im, 64<<20, size)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close(ctx) })
	return p
}

func poolCall(t testing.TB, p *Pool, input string, fuel int64) (string, uint64, error) {
	t.Helper()
	st := &callState{input: []byte(input)}
	res, err := p.Call(context.WithValue(context.Background(), stateKey{}, st), "sgde_call", CallOptions{Fuel: fuel})
	return string(st.output), uint64(res.Fuel), err
}

// TestPoolRestoresState: state a call writes (package variables, map entries, heap pages) is
// gone in the next call on the same pooled instance; a call that runs out of fuel discards its
// instance and the next call gets a fresh one in the snapshot state.
func TestPoolRestoresState(t *testing.T) {
	rt := newRuntime(t)
	p := newPool(t, rt, buildReactor(t, "../../testdata/state_node.go"), 1, "")
	want := `{"output":{"buf":65536,"calls":1,"seen_before":false}}`
	var fuel uint64
	for i := 0; i < 5; i++ {
		out, used, err := poolCall(t, p, `{"k": "a"}`, 1<<40)
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if out != want {
			t.Fatalf("call %d: output %s, want %s: state leaked between calls", i, out, want)
		}
		if i > 0 && used != fuel {
			t.Fatalf("call %d used %d fuel, the first %d", i, used, fuel)
		}
		fuel = used
	}
	if p.instantiated != 1 {
		t.Fatalf("%d instances created for 5 calls, want 1 reused", p.instantiated)
	}
	if _, _, err := poolCall(t, p, `{"k": "a"}`, 1000); !errors.Is(err, rewrite.ErrOutOfFuel) {
		t.Fatalf("call with 1000 fuel: %v, want out of fuel", err)
	}
	out, used, err := poolCall(t, p, `{"k": "a"}`, 1<<40)
	if err != nil || out != want || used != fuel {
		t.Fatalf("after exhaustion: %s, %d fuel, %v; want %s, %d fuel", out, used, err, want, fuel)
	}
	if p.instantiated != 2 {
		t.Fatalf("%d instances created, want a fresh one after the exhausted call", p.instantiated)
	}
}

// BenchmarkPoolCall: arith_program on a GSM-Hard-sized program through the pool (restored after
// every call), back to back, against a fresh instance of the snapshot per call.
func BenchmarkPoolCall(b *testing.B) {
	rt := newRuntime(b)
	metered := buildReactor(b, "../../../compiler/library/modules/arith/arith_program.go")
	warm := `{"program": "def solution():\n    return 1 + 2 * 3\n"}`
	p := newPool(b, rt, metered, 2, "")
	pw := newPool(b, rt, metered, 2, warm)
	in := `{"program": "def solution():\n    apples = 23\n    eaten = 20\n    bought = 6\n    return apples - eaten + bought\n"}`
	want, _, err := poolCall(b, p, in, 1<<40)
	if err != nil || !strings.Contains(want, `"answer":9`) {
		b.Fatalf("%s %v", want, err)
	}
	run := func(b *testing.B, call func() string) {
		lat := make([]time.Duration, 0, b.N)
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			start := time.Now()
			out := call()
			lat = append(lat, time.Since(start))
			if out != want {
				b.Fatalf("output %s, want %s", out, want)
			}
		}
		b.StopTimer()
		p50, p99 := percentiles(lat)
		b.ReportMetric(float64(p50.Microseconds()), "p50-us")
		b.ReportMetric(float64(p99.Microseconds()), "p99-us")
	}
	b.Run("pool", func(b *testing.B) {
		run(b, func() string {
			out, _, err := poolCall(b, p, in, 1<<40)
			if err != nil {
				b.Fatal(err)
			}
			return out
		})
	})
	b.Run("pool-warmed", func(b *testing.B) {
		run(b, func() string {
			out, _, err := poolCall(b, pw, in, 1<<40)
			if err != nil {
				b.Fatal(err)
			}
			return out
		})
	})
	b.Run("fresh-snapshot-instance", func(b *testing.B) {
		ctx := context.Background()
		compiled, err := rt.CompileModule(ctx, p.im.Wasm)
		if err != nil {
			b.Fatal(err)
		}
		run(b, func() string {
			mod, err := rt.InstantiateModule(ctx, compiled, p.im.Clocks(wazero.NewModuleConfig().WithName("").WithStartFunctions()))
			if err != nil {
				b.Fatal(err)
			}
			defer mod.Close(ctx)
			out, _ := call(b, mod, in)
			return out
		})
	})
}

func percentiles(lat []time.Duration) (p50, p99 time.Duration) {
	slices.Sort(lat)
	return lat[(len(lat)-1)/2], lat[(len(lat)*99+99)/100-1]
}

// TestPoolRestoreMatchesImage: after every call, whatever it wrote where, a pooled instance's
// memory is byte for byte the snapshot image, with each restore method. The calls write bytes
// at pseudo-random places of a 4 MiB package array and allocate; every call's output (a sum
// over the bytes it read before writing) must be the one a fresh instance gives.
func TestPoolRestoreMatchesImage(t *testing.T) {
	rt := newRuntime(t)
	metered := buildReactor(t, "../../testdata/scribble_node.go")
	fresh := newPool(t, rt, metered, 1, "")
	for _, restore := range []string{"write-watch", "madvise"} {
		t.Run(restore, func(t *testing.T) {
			p := newPool(t, rt, metered, 1, "")
			if restore == "madvise" {
				p.watch = nil
			} else if p.Restore() != restore {
				t.Skipf("no write watch on this kernel: %v", errWatch)
			}
			image := p.im.memory
			for seed, writes := range []int{1, 50, 5000, 0, 20000, 3} {
				in := fmt.Sprintf(`{"seed": %d, "writes": %d}`, seed, writes)
				want, _, err := poolCall(t, fresh, in, 1<<40)
				if err != nil {
					t.Fatal(err)
				}
				fresh.mu.Lock()
				fresh.free = nil // the next reference call gets a new instance
				fresh.mu.Unlock()
				got, _, err := poolCall(t, p, in, 1<<40)
				if err != nil || got != want {
					t.Fatalf("seed %d: %s, %v; a fresh instance gives %s", seed, got, err, want)
				}
				if len(p.free) != 1 {
					t.Fatalf("seed %d: instance not back in the pool", seed)
				}
				mem := p.free[0].mem
				if n := firstDiff(mem.buf[:mem.image], image); n >= 0 {
					t.Fatalf("seed %d (%d writes): memory differs from the image at %#x after restore", seed, writes, n)
				}
				if restore == "write-watch" && writes >= 5000 && (mem.restored <= hotPages || mem.restored*os.Getpagesize() >= len(image)) {
					t.Fatalf("seed %d: %d pages restored of %d", seed, mem.restored, len(image)/os.Getpagesize())
				}
				// The call after one that wrote more than hotPages pages restores only its own:
				// the big call's pages were protected again.
				if restore == "write-watch" && writes == 0 && mem.restored > hotPages {
					t.Fatalf("seed %d: %d pages restored after a call that wrote none of the arena", seed, mem.restored)
				}
			}
			if p.instantiated != 1 {
				t.Fatalf("%d instances for the calls, want 1", p.instantiated)
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	for i := range a {
		if a[i] != b[i] {
			return i
		}
	}
	return -1
}
