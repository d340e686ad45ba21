//go:build linux

package wasm

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/fakego"
)

func TestFindCgroupParent(t *testing.T) {
	const v2 = "25 1 0:22 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:9 - cgroup2 cgroup2 rw,nsdelegate\n"
	const hybrid = "30 25 0:26 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n" +
		"31 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
	const v1 = "31 25 0:27 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory\n"
	for _, tc := range []struct {
		name, env, mountinfo, self, want, err string
	}{
		{name: "v2", mountinfo: v2, self: "0::/user.slice/sgde.service\n", want: "/sys/fs/cgroup/user.slice/sgde.service"},
		{name: "hybrid", mountinfo: hybrid, self: "4:memory:/x\n0::/\n", want: "/sys/fs/cgroup/unified"},
		{name: "escaped mount point", mountinfo: "25 1 0:22 / /sys/fs/my\\040cgroup rw - cgroup2 cgroup2 rw\n", self: "0::/a\n", want: "/sys/fs/my cgroup/a"},
		{name: "bind of a subtree is not used", mountinfo: "25 1 0:22 /sub /mnt rw - cgroup2 cgroup2 rw\n", self: "0::/a\n", err: "no cgroup2"},
		{name: "v1 only", mountinfo: v1, self: "4:memory:/x\n", err: "no cgroup2"},
		{name: "not in a v2 group", mountinfo: v2, self: "4:memory:/x\n", err: "no cgroup v2 group"},
		{name: "explicit", env: "/sys/fs/cgroup/delegated", mountinfo: v1, want: "/sys/fs/cgroup/delegated"},
		{name: "off", env: "off", mountinfo: v2, self: "0::/\n", err: "=off"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := findCgroupParent(tc.env, []byte(tc.mountinfo), []byte(tc.self))
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %q, %v; want an error about %q", got, err, tc.err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("got %q, %v; want %q", got, err, tc.want)
			}
		})
	}
}

// fakeCgroup makes a directory that looks like a cgroup v2 group with the given controllers.
func fakeCgroup(t *testing.T, controllers string) string {
	t.Helper()
	dir := t.TempDir()
	for name, v := range map[string]string{"cgroup.controllers": controllers + "\n", "cgroup.subtree_control": ""} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func readTrim(t *testing.T, p string) string {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestCgroupConfig: against a fake cgroupfs, sgde enables the controllers it finds for child
// groups, gives each build a group limited in memory (the whole tree, no swap), tasks and CPU,
// kills it through cgroup.kill, reports its OOM kills and removes it; a group without the memory
// controller, or one whose children cannot get it, is refused (the rlimits then apply).
func TestCgroupConfig(t *testing.T) {
	dir := fakeCgroup(t, "cpuset cpu io memory pids")
	// Groups left by sgde processes: one that no longer runs (the largest pid cannot be in
	// use) and this one.
	stale := filepath.Join(dir, "sgde-build-4194305-1")
	mine := filepath.Join(dir, fmt.Sprintf("sgde-build-%d-99", os.Getpid()))
	for _, d := range []string{stale, mine} {
		if err := os.Mkdir(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	p, err := openCgroupParent(dir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(stale); err == nil {
		t.Error("the group of a process that no longer runs was not removed")
	}
	if _, err := os.Stat(mine); err != nil {
		t.Error("a group of a running process was removed")
	}
	os.Remove(mine)
	if got := strings.Fields(readTrim(t, filepath.Join(dir, "cgroup.subtree_control"))); strings.Join(got, " ") != "+memory +pids +cpu" || !p.pids || !p.cpu {
		t.Fatalf("subtree_control written %q (pids %v, cpu %v); want memory, pids and cpu enabled one per write", got, p.pids, p.cpu)
	}
	g, err := p.newChild(1 << 30)
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Dir(g.dir) != dir || !strings.HasPrefix(filepath.Base(g.dir), "sgde-build-") {
		t.Fatalf("child group %s, want sgde-build-* under %s", g.dir, dir)
	}
	for file, want := range map[string]string{
		"memory.max": "1073741824", "memory.swap.max": "0", "memory.oom.group": "1",
		"pids.max": "1024", "cpu.max": "200000 100000",
	} {
		if got := readTrim(t, filepath.Join(g.dir, file)); got != want {
			t.Errorf("%s = %q, want %q", file, got, want)
		}
	}
	if err := os.WriteFile(filepath.Join(g.dir, "memory.events"), []byte("low 0\nhigh 0\nmax 7\noom 2\noom_kill 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	g.kill()
	if got := readTrim(t, filepath.Join(g.dir, "cgroup.kill")); got != "1" {
		t.Errorf("cgroup.kill = %q after kill, want 1", got)
	}
	if n := g.release(); n != 2 {
		t.Errorf("release reported %d OOM kills, want 2", n)
	}
	if _, err := os.Stat(g.dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("child group left behind: %v", err)
	}

	// Without pids and cpu, only memory is set.
	p2, err := openCgroupParent(fakeCgroup(t, "memory"))
	if err != nil {
		t.Fatal(err)
	}
	g2, err := p2.newChild(64 << 20)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"pids.max", "cpu.max"} {
		if _, err := os.Stat(filepath.Join(g2.dir, f)); err == nil {
			t.Errorf("%s written though the controller is not enabled", f)
		}
	}
	g2.release()

	// Refusals.
	if _, err := openCgroupParent(fakeCgroup(t, "cpu pids hugetlb")); err == nil || !strings.Contains(err.Error(), "memory controller is not delegated") {
		t.Errorf("group without memory: %v", err)
	}
	busy := fakeCgroup(t, "memory")
	os.Remove(filepath.Join(busy, "cgroup.subtree_control"))
	os.Mkdir(filepath.Join(busy, "cgroup.subtree_control"), 0o700) // every write fails, as on a group with processes
	if _, err := openCgroupParent(busy); err == nil || !strings.Contains(err.Error(), "cannot enable the memory controller") {
		t.Errorf("group whose children cannot get memory: %v", err)
	}
	if _, err := openCgroupParent(t.TempDir()); err == nil || !strings.Contains(err.Error(), "not a cgroup v2 group") {
		t.Errorf("plain directory: %v", err)
	}
}

// TestBuildCgroupFallback: when the kernel refuses to start the compiler in its group (here a
// fake group, which clone3 rejects), the build runs under the rlimits alone and still succeeds,
// and the group is removed.
func TestBuildCgroupFallback(t *testing.T) {
	g := fakego.Install(t, 0)
	b := newTestBuilder(t, WithToolchain(ToolchainGo), WithGoCache(t.TempDir()))
	dir := fakeCgroup(t, "memory pids")
	p, err := openCgroupParent(dir)
	if err != nil {
		t.Fatal(err)
	}
	b.cgroup = p
	art, err := b.Build(context.Background(), []byte(okNode), "ok.go")
	if err != nil || !strings.HasPrefix(string(art.Wasm), "\x00asm") {
		t.Fatalf("build: %v", err)
	}
	// The process tree is the go command and at most BuildParallelism tools.
	if got, want := g.GoFlags(), fmt.Sprintf("-mod=mod -p=%d", BuildParallelism); got != want {
		t.Errorf("the compiler ran with GOFLAGS %q, want %q", got, want)
	}
	if left, _ := filepath.Glob(filepath.Join(dir, "sgde-build-*")); len(left) != 0 {
		t.Fatalf("groups left behind: %v", left)
	}
}

// TestBuildCancelKillsTree: when the caller gives up, the compiler's whole process tree (here
// the fake go command, a foreground and a background child) ends at once, whichever bound
// applies on this machine (a cgroup or the process group).
func TestBuildCancelKillsTree(t *testing.T) {
	g := fakego.Install(t, time.Minute)
	t.Cleanup(g.Kill)
	b := newTestBuilder(t, WithToolchain(ToolchainGo), WithGoCache(t.TempDir()))
	if _, err := b.ToolchainVersion(context.Background()); err != nil {
		t.Fatal(err)
	}
	fds := fakego.OpenFDs()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := b.Build(ctx, []byte(okNode), "ok.go"); errc <- err }()
	for deadline := time.Now().Add(10 * time.Second); len(g.Pids()) < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the fake compiler did not start its processes")
		}
	}
	cancel()
	start := time.Now()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("build after cancel: %v, want context.Canceled", err)
	}
	if wait := time.Since(start); wait > time.Second {
		t.Errorf("Build returned %v after cancellation, want well under 1 s", wait)
	}
	if alive := g.WaitGone(time.Second); len(alive) != 0 {
		t.Fatalf("compiler processes %v still running 1 s after the build was cancelled", alive)
	}
	if now := fakego.OpenFDs(); now > fds {
		t.Errorf("%d file descriptors open after the cancelled build, %d before", now, fds)
	}
}

// TestBuildCgroupReal runs a build in a real cgroup v2 child group when this process has one
// delegated with the memory controller; elsewhere the rlimits are what bound the compiler and
// the test says so.
func TestBuildCgroupReal(t *testing.T) {
	p, err := detectCgroup()
	if err != nil {
		t.Skipf("no writable cgroup v2 group with the memory controller is delegated to this process (%v): builds here are bounded by the per-process rlimits; set %s to a delegated, empty group to run this test", err, EnvBuildCgroup)
	}
	g := fakego.Install(t, time.Minute)
	t.Cleanup(g.Kill)
	b := newTestBuilder(t, WithToolchain(ToolchainGo), WithGoCache(t.TempDir()))
	if b.cgroup != p {
		t.Fatal("the builder does not use the detected group")
	}
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { _, err := b.Build(ctx, []byte(okNode), "ok.go"); errc <- err }()
	var group string
	for deadline := time.Now().Add(10 * time.Second); group == ""; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no build group appeared with the compiler in it")
		}
		if len(g.Pids()) < 3 {
			continue
		}
		groups, _ := filepath.Glob(filepath.Join(p.dir, "sgde-build-*"))
		for _, d := range groups {
			if procs, _ := os.ReadFile(filepath.Join(d, "cgroup.procs")); len(strings.Fields(string(procs))) >= 3 {
				group = d
			}
		}
	}
	if got := readTrim(t, filepath.Join(group, "memory.max")); got != "1073741824" {
		t.Errorf("memory.max = %s, want the default build memory", got)
	}
	cancel()
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("build after cancel: %v", err)
	}
	if alive := g.WaitGone(time.Second); len(alive) != 0 {
		t.Fatalf("compiler processes %v still running after cancellation", alive)
	}
	if _, err := os.Stat(group); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("build group %s left behind: %v", group, err)
	}
}

// TestCgroupKillReal checks the parts of a build group that need no memory controller against
// the real kernel, where this process may create a cgroup v2 group (even one without memory,
// such as the hybrid hierarchy of a cgroup v1 machine): the compiler starts inside the group
// (clone3), cgroup.kill ends a process tree that left the compiler's process group, and release
// waits for the group to empty and removes it.
func TestCgroupKillReal(t *testing.T) {
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	self, _ := os.ReadFile("/proc/self/cgroup")
	parent, err := findCgroupParent("", mountinfo, self)
	if err != nil {
		t.Skipf("no cgroup v2 hierarchy: %v", err)
	}
	dir := filepath.Join(parent, "sgde-build-test-"+strings.ReplaceAll(t.Name(), "/", "_"))
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Skipf("cannot create a cgroup v2 group under %s (%v): cgroup.kill is not exercised here", parent, err)
	}
	fd, err := os.Open(dir)
	if err != nil {
		os.Remove(dir)
		t.Fatal(err)
	}
	g := &buildCgroup{dir: dir, fd: fd}
	t.Cleanup(func() { g.release() })
	// setsid: the tree leaves the process group, so only the cgroup can still find it.
	cmd := exec.CommandContext(context.Background(), "/bin/sh", "-c", "setsid sleep 600 & sleep 600")
	setProcessGroup(cmd)
	intoCgroup(cmd, g)
	if err := cmd.Start(); err != nil {
		t.Skipf("the kernel refused to start a process in a new group (%v): the rlimit fallback applies", err)
	}
	var procs []string
	for deadline := time.Now().Add(5 * time.Second); len(procs) < 3; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			cmd.Process.Kill()
			t.Fatalf("group holds %v, want the shell and its two sleeps", procs)
		}
		b, _ := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		procs = strings.Fields(string(b))
	}
	if !g.populated() {
		t.Fatal("cgroup.events does not report the group populated")
	}
	start := time.Now()
	g.kill()
	_ = cmd.Wait()
	g.release()
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("group not removed: %v", err)
	}
	for _, pid := range procs {
		if _, err := os.Stat("/proc/" + pid + "/cmdline"); err == nil {
			if st, _ := os.ReadFile("/proc/" + pid + "/stat"); !strings.Contains(string(st), ") Z") {
				t.Errorf("process %s survived cgroup.kill", pid)
			}
		}
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("kill and release took %v", d)
	}
}
