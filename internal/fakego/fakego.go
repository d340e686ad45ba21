//go:build unix

// Package fakego installs a stand-in for the go command in tests that exercise how sgde runs
// and stops the compiler (process trees, cgroups, cancellation) without the CPU cost of a real
// compilation. It is for tests only.
package fakego

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// Go is an installed fake go command.
type Go struct {
	// Dir holds the executable "go"; put it first on PATH before making a builder.
	Dir string
	// pids is the file where every run appends the ids of the processes it started.
	pids string
}

// Install writes a fake go command into a temporary directory and puts that directory first on
// PATH for the rest of the test. `go version` answers at once; any other command starts a
// process tree (itself, a background sleep that would outlive it, and a foreground sleep of
// delay), records their ids, then writes a minimal module to ./node.wasm and exits 0.
func Install(t testing.TB, delay time.Duration) *Go {
	t.Helper()
	dir := t.TempDir()
	g := &Go{Dir: dir, pids: filepath.Join(dir, "pids")}
	script := fmt.Sprintf(`#!/bin/sh
if [ "$1" = version ]; then echo "go version go1.26.0 linux/amd64"; exit 0; fi
echo $$ >> %[1]q
echo "$GOFLAGS" > %[1]q.goflags
sleep 600 &
bg=$!
echo $bg >> %[1]q
sleep %.3f &
echo $! >> %[1]q
wait $!
kill $bg
printf '\000asm\001\000\000\000' > node.wasm
`, g.pids, delay.Seconds())
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return g
}

// InstallHog writes a fake go command like Install's whose build runs n copies of the test
// binary as memory hogs of mib MiB each (RunHog, which the binary's TestMain must call), all at
// once, records their ids, waits for them and then writes the module (or fails if one failed):
// a compiler process tree whose memory grows at a known rate, without a compilation's CPU.
func InstallHog(t testing.TB, n, mib int) *Go {
	t.Helper()
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	g := &Go{Dir: dir, pids: filepath.Join(dir, "pids")}
	var hogs strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&hogs, "%s=%d %q &\necho $! >> %q\nhogs=\"$hogs $!\"\n", envHog, mib, self, g.pids)
	}
	// A hog that could not hold its memory (a race-detector binary under RLIMIT_AS cannot even
	// start) fails the build, so that a test never mistakes it for a bound that worked.
	script := fmt.Sprintf(`#!/bin/sh
if [ "$1" = version ]; then echo "go version go1.26.0 linux/amd64"; exit 0; fi
echo $$ >> %[1]q
hogs=
%[2]sfor p in $hogs; do wait $p || { echo "memory hog $p failed" >&2; exit 1; }; done
printf '\000asm\001\000\000\000' > node.wasm
`, g.pids, hogs.String())
	if err := os.WriteFile(filepath.Join(dir, "go"), []byte(script), 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir+string(os.PathListSeparator)+os.Getenv("PATH"))
	return g
}

// GoFlags returns the GOFLAGS the last build command ran with.
func (g *Go) GoFlags() string {
	b, _ := os.ReadFile(g.pids + ".goflags")
	return strings.TrimSpace(string(b))
}

// Pids returns the ids of every process the fake compiler started so far.
func (g *Go) Pids() []int {
	data, _ := os.ReadFile(g.pids)
	var pids []int
	for _, f := range strings.Fields(string(data)) {
		if n, err := strconv.Atoi(f); err == nil {
			pids = append(pids, n)
		}
	}
	return pids
}

// Alive returns the ids among Pids of processes that still run (zombies count as gone: they
// hold no memory and wait only for their parent to reap them).
func (g *Go) Alive() []int {
	var alive []int
	for _, pid := range g.Pids() {
		if syscall.Kill(pid, 0) != nil {
			continue
		}
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err == nil {
			if i := strings.LastIndexByte(string(stat), ')'); i > 0 && strings.HasPrefix(string(stat[i+1:]), " Z") {
				continue
			}
		}
		alive = append(alive, pid)
	}
	return alive
}

// WaitGone waits up to d for every process the fake compiler started to end and returns those
// still running.
func (g *Go) WaitGone(d time.Duration) []int {
	deadline := time.Now().Add(d)
	for {
		alive := g.Alive()
		if len(alive) == 0 || time.Now().After(deadline) {
			return alive
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Kill ends every process the fake compiler started (test cleanup after a failure).
func (g *Go) Kill() {
	for _, pid := range g.Pids() {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
}

// OpenFDs is the number of file descriptors this process has open (/proc/self/fd), -1 where
// that cannot be read: a compiler run that was stopped must leave none of its pipes behind.
func OpenFDs() int {
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return -1
	}
	return len(ents)
}
