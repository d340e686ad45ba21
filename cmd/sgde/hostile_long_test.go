//go:build linux

package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/proctree"
	"github.com/sgde-project/sgde/internal/testlong"
)

// TestHostileProcessBounds runs the real sgde binary on every hostile module as a child
// process, as a user would: each run at default limits with --timeout 1s must return within the
// timeout plus 1 s with a resident set under 1 GiB (getrusage of the child); each Go build bomb
// must fail within the build timeout plus 1 s with sgde and its compilers under 1 GiB together;
// and SIGINT or SIGTERM must end a run busy in guest code, in host calls or in loading within 1 s.
func TestHostileProcessBounds(t *testing.T) {
	testlong.Skip(t, "builds the sgde binary and runs every hostile module in a child process")
	bin := filepath.Join(t.TempDir(), "sgde")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	cache := t.TempDir()
	command := func(args ...string) *exec.Cmd {
		cmd := exec.Command(bin, args...)
		cmd.Env = append(os.Environ(), "SGDE_CACHE_DIR="+cache)
		return cmd
	}
	files, err := filepath.Glob(filepath.Join(hostileDir, "*.wasm"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no hostile modules: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			cmd := command("exec", f, "--input", "{}", "--timeout", "1s", "--json")
			start := time.Now()
			out, _ := cmd.Output()
			took := time.Since(start)
			ru, _ := cmd.ProcessState.SysUsage().(*syscall.Rusage)
			if ru == nil {
				t.Fatal("no rusage")
			}
			t.Logf("%v, max RSS %d MiB: %.200s", took.Round(time.Millisecond), ru.Maxrss>>10, out)
			if took > 2*time.Second {
				t.Errorf("sgde exec --timeout 1s took %v", took)
			}
			if ru.Maxrss<<10 > 1<<30 {
				t.Errorf("sgde exec held %d MiB resident", ru.Maxrss>>10)
			}
		})
	}
	// The build bombs: sgde and the compilers it starts, read together from /proc every 20 ms,
	// stay under 1 GiB resident, and sgde returns within the build timeout plus 1 s.
	for _, f := range []string{"string_doubling.go", "build_forever.go"} {
		t.Run(f, func(t *testing.T) {
			const buildTimeout = 10 * time.Second
			cmd := command("exec", filepath.Join(hostileDir, f), "--input", "{}", "--timeout", "1s",
				"--build-timeout", buildTimeout.String(), "--json")
			var out bytes.Buffer
			cmd.Stdout = &out
			start := time.Now()
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			pid := cmd.Process.Pid
			s := proctree.Sample(context.Background(), 20*time.Millisecond, func(ps []proctree.Proc) (uint64, int) {
				return proctree.TreeRSS(ps, pid)
			})
			_ = cmd.Wait()
			took := time.Since(start)
			peak, n, _, err := s.Stop()
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%v, process tree peak %d MiB over %d processes: %.200s", took.Round(time.Millisecond), peak>>20, n, out.String())
			if took > buildTimeout+time.Second {
				t.Errorf("sgde exec --build-timeout %v took %v", buildTimeout, took)
			}
			if peak >= 1<<30 {
				t.Errorf("sgde and its compilers held %d MiB resident", peak>>20)
			}
			if !strings.Contains(out.String(), `"build_`) {
				t.Errorf("output %q is not a build error", out.String())
			}
		})
	}
	for _, f := range []string{"loop_start.wasm", "random_get_loop.wasm", "fd_write_iovecs.wasm", "poll_oneoff_flood.wasm", "init_random_get.wasm"} {
		for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
			t.Run(f+"/"+sig.String(), func(t *testing.T) {
				cmd := command("exec", filepath.Join(hostileDir, f), "--input", "{}", "--timeout", "60s", "--json")
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				time.Sleep(700 * time.Millisecond)
				if err := cmd.Process.Signal(sig); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				start := time.Now()
				go func() { done <- cmd.Wait() }()
				select {
				case <-done:
					if took := time.Since(start); took > time.Second {
						t.Errorf("exited %v after %v", took, sig)
					}
				case <-time.After(10 * time.Second):
					_ = cmd.Process.Kill()
					<-done
					t.Fatalf("still running 10 s after %v", sig)
				}
			})
		}
	}
}
