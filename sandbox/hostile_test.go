package sandbox_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

const hostileDir = "../testdata/hostile"

type expectation struct {
	Expect string `json:"expect"`
	Rule   string `json:"rule"`
}

func hostileExpectations(t testing.TB) map[string]expectation {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(hostileDir, "expect.json"))
	if err != nil {
		t.Fatal(err)
	}
	var all map[string]json.RawMessage
	if err := json.Unmarshal(raw, &all); err != nil {
		t.Fatal(err)
	}
	out := map[string]expectation{}
	for name, v := range all {
		if strings.HasPrefix(name, "_") {
			continue
		}
		var e expectation
		if err := json.Unmarshal(v, &e); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		out[name] = e
	}
	entries, err := os.ReadDir(hostileDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, ent := range entries {
		if n := ent.Name(); strings.HasSuffix(n, ".go") || strings.HasSuffix(n, ".wasm") {
			if _, ok := out[n]; !ok {
				t.Errorf("%s has no expectation in expect.json", n)
			}
		}
	}
	return out
}

// hostileLimits are the limits of the corpus. Entries expected to time out get a short timeout
// so the corpus runs quickly; every other entry gets a generous one so that its outcome never
// depends on how loaded the machine is.
func hostileLimits(expect string) sandbox.Limits {
	lim := sandbox.Limits{MemoryMiB: 64, MaxOutputBytes: 1 << 20, Timeout: 60 * time.Second}
	switch expect {
	case "timeout":
		lim.Timeout = time.Second
	case "build_timeout":
		lim.Timeout = buildTimeoutProbe
	case "build_failed":
		lim.Timeout = buildFailProbe
	case "invalid_module":
		lim.Timeout = loadFailProbe
	}
	return lim
}

// buildTimeoutProbe and buildFailProbe mark, in Limits.Timeout, a corpus entry whose build must
// time out or fail.
const (
	buildTimeoutProbe = time.Nanosecond
	buildFailProbe    = 2 * time.Nanosecond
	loadFailProbe     = 3 * time.Nanosecond
)

// runHostile builds (or reads) one corpus entry and calls it once. It returns the outcome name
// (as in expect.json), the result and the error behind the outcome.
func runHostile(t testing.TB, file string, lim sandbox.Limits) (string, sandbox.Result, error) {
	t.Helper()
	_, e := shared(t)
	ctx := context.Background()
	var mod sandbox.Module
	if strings.HasSuffix(file, ".go") {
		src, err := os.ReadFile(filepath.Join(hostileDir, file))
		if err != nil {
			t.Fatal(err)
		}
		if err := wasm.Validate(src, file); err != nil {
			return "rejected", sandbox.Result{}, err
		}
		if lim.Timeout == buildFailProbe {
			// A build meant to fail on the compiler's resource limits: a private builder with
			// its own artefact cache, which must stay empty, and the default limits.
			cacheDir := t.TempDir()
			b, err := wasm.NewBuilder(wasm.WithCacheDir(cacheDir))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = b.Build(ctx, src, file)
			t.Logf("build: %v after %v", err, time.Since(start).Round(time.Millisecond))
			checkBuildBounds(t, cacheDir)
			if errors.Is(err, wasm.ErrBuildFailed) {
				return "build_failed", sandbox.Result{}, err
			}
			return "built", sandbox.Result{}, err
		}
		if lim.Timeout == buildTimeoutProbe {
			// A build meant never to finish: a private builder with a short timeout and no
			// artefact cache must reap the compiler.
			b, err := wasm.NewBuilder(wasm.WithCacheDir(""), wasm.WithTimeout(3*time.Second))
			if err != nil {
				t.Fatal(err)
			}
			start := time.Now()
			_, err = b.Build(ctx, src, file)
			if took := time.Since(start); took > 30*time.Second {
				t.Errorf("build returned after %v; the 3s timeout did not reap the compiler", took)
			}
			switch {
			case errors.Is(err, wasm.ErrBuildTimeout):
				return "build_timeout", sandbox.Result{}, err
			case errors.Is(err, wasm.ErrBuildMemory),
				errors.Is(err, wasm.ErrBuildFailed) && strings.Contains(err.Error(), "out of memory"):
				// The compiler's memory bounds (its RLIMIT_AS, the tree's supervisor or cgroup)
				// stop a runaway build before its timeout on a fast machine, and after it on a
				// slow one: either way a build limit reaped the compiler, which is what
				// build_timeout asserts.
				return "build_timeout", sandbox.Result{}, err
			case errors.Is(err, wasm.ErrBuildFailed):
				return "build_failed", sandbox.Result{}, err
			case err != nil:
				t.Fatal(err)
			}
			return "built", sandbox.Result{}, nil
		}
		if lim.Timeout == loadFailProbe {
			// A node that builds but that no engine may load (wasmbin's structural limits).
			m, err := e.Load(ctx, buildOnly(t, filepath.Join(hostileDir, file)))
			if err != nil {
				return sandbox.Kind(err), sandbox.Result{}, err
			}
			m.Close(ctx)
			return "ok", sandbox.Result{}, nil
		}
		_, mod = load(t, filepath.Join(hostileDir, file))
	} else {
		raw, err := os.ReadFile(filepath.Join(hostileDir, file))
		if err != nil {
			t.Fatal(err)
		}
		mod, err = e.Load(ctx, raw)
		if err != nil {
			return sandbox.Kind(err), sandbox.Result{}, err
		}
		defer mod.Close(ctx)
	}
	res, err := mod.Call(ctx, []byte(`{"x": 1}`), lim)
	if err != nil {
		return sandbox.Kind(err), res, err
	}
	return "ok", res, nil
}

func TestHostileCorpus(t *testing.T) {
	exp := hostileExpectations(t)
	names := make([]string, 0, len(exp))
	for n := range exp {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, file := range names {
		want := exp[file]
		t.Run(file, func(t *testing.T) {
			t.Parallel()
			lim := hostileLimits(want.Expect)
			got, res, err := runHostile(t, file, lim)
			if got != want.Expect {
				t.Fatalf("outcome %q, want %q (err: %v, stderr: %.300s)", got, want.Expect, err, res.Stderr)
			}
			if want.Rule != "" {
				var verr *wasm.ValidationError
				if !errors.As(err, &verr) {
					t.Fatalf("error %v is not a *wasm.ValidationError", err)
				}
				found := false
				for _, v := range verr.Violations {
					found = found || v.Rule == want.Rule
					if v.Line <= 0 {
						t.Errorf("violation %+v has no line", v)
					}
				}
				if !found {
					t.Fatalf("violations %v do not include rule %q", verr.Violations, want.Rule)
				}
			}
			if err != nil && len(err.Error()) > 8<<10 {
				t.Errorf("error message is %d bytes; guest text must be truncated", len(err.Error()))
			}
			if len(res.Stdout) > lim.MaxOutputBytes+100 || len(res.Stderr) > lim.MaxOutputBytes+100 {
				t.Errorf("stdout %d / stderr %d bytes exceed the cap", len(res.Stdout), len(res.Stderr))
			}
			if got == "ok" {
				// The same input gives the same output on every run.
				_, again, err := runHostile(t, file, lim)
				if err != nil || !bytes.Equal(again.Output, res.Output) {
					t.Fatalf("second run: output %s (err %v), first run %s", again.Output, err, res.Output)
				}
			}
		})
	}
}
