//go:build linux

package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/testlong"
)

// TestHostileProcessBounds runs the real sgde binary on every hostile module as a child
// process, as a user would: each run at default limits with --timeout 1s must return within the
// timeout plus 1 s with a resident set under 1 GiB (getrusage of the child), and SIGINT or
// SIGTERM must end a run busy in guest code, in host calls or in loading within 1 s.
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
