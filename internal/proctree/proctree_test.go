//go:build linux

package proctree

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
	"time"
)

func TestParseStat(t *testing.T) {
	for _, c := range []struct {
		name, line string
		ok         bool
		want       Proc
	}{
		{"plain", "42 (go) S 7 42 42 0 -1 4194560 1 0 0 0 0 0 0 0 20 0 9 0 100 1000000 25 18446744073709551615", true, Proc{Pid: 42, PPid: 7, PGrp: 42, RSS: 25 * pageSize}},
		{"spaces and parens in the name", "43 (a) b (c) R 1 9 9 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 4096 3 0", true, Proc{Pid: 43, PPid: 1, PGrp: 9, RSS: 3 * pageSize}},
		{"truncated", "44 (x) S 1 2 3", false, Proc{}},
		{"no name", "45 S 1 2", false, Proc{}},
		{"bad number", "46 (x) S one 2 2 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 5 4096 3 0", false, Proc{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			pid := c.want.Pid
			if pid == 0 {
				pid = 1
			}
			got, ok := parseStat(pid, []byte(c.line))
			if ok != c.ok || got != c.want {
				t.Fatalf("parseStat = %+v, %v; want %+v, %v", got, ok, c.want, c.ok)
			}
		})
	}
}

func TestSums(t *testing.T) {
	ps := []Proc{
		{Pid: 1, PPid: 0, PGrp: 1, RSS: 1},
		{Pid: 10, PPid: 1, PGrp: 10, RSS: 10},
		{Pid: 11, PPid: 10, PGrp: 10, RSS: 100},
		{Pid: 12, PPid: 11, PGrp: 12, RSS: 1000}, // left the group, still in the tree
		{Pid: 13, PPid: 1, PGrp: 10, RSS: 10000}, // in the group, adopted by init
	}
	if rss, n := GroupRSS(ps, 10); rss != 10110 || n != 3 {
		t.Errorf("GroupRSS = %d, %d; want 10110, 3", rss, n)
	}
	if rss, n := TreeRSS(ps, 10); rss != 1110 || n != 3 {
		t.Errorf("TreeRSS = %d, %d; want 1110, 3", rss, n)
	}
}

// TestGroupReader reads a real process group (a shell and a child, in a group of their own)
// and agrees with a full snapshot of /proc; once the group is gone it reads nothing.
func TestGroupReader(t *testing.T) {
	cmd := exec.Command("/bin/sh", "-c", "sleep 30 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	pgid := cmd.Process.Pid
	defer func() { _ = syscall.Kill(-pgid, syscall.SIGKILL); _ = cmd.Wait() }()
	r := NewGroupReader(pgid)
	var n int
	for deadline := time.Now().Add(5 * time.Second); n < 2; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the group has %d processes, want the shell and its sleep", n)
		}
		var err error
		if _, n, err = r.RSS(); err != nil {
			t.Fatal(err)
		}
	}
	rss, n, _ := r.RSS() // the second read of each member (statm)
	ps, err := Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	want, wantN := GroupRSS(ps, pgid)
	if n != wantN || rss == 0 || rss > 2*want || want > 2*rss {
		t.Errorf("GroupReader: %d bytes over %d processes; snapshot: %d over %d", rss, n, want, wantN)
	}
	_ = syscall.Kill(-pgid, syscall.SIGKILL)
	_ = cmd.Wait()
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		if _, n, _ = r.RSS(); n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d processes still read after the group was killed", n)
		}
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRead compares a full snapshot of /proc with the incremental read of one group that
// the builder's supervisor does every 20 ms; cpu-ns/op is the CPU time of one read (wall time
// depends on how loaded the machine is). docs/BENCHMARKS.md has the figures.
func BenchmarkRead(b *testing.B) {
	b.Run("snapshot", func(b *testing.B) {
		c := cpuTime()
		for i := 0; i < b.N; i++ {
			if _, err := Snapshot(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-c)/float64(b.N), "cpu-ns/op")
	})
	b.Run("group", func(b *testing.B) {
		r := NewGroupReader(os.Getpid())
		_, _, _ = r.RSS()
		c := cpuTime()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			if _, _, err := r.RSS(); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(cpuTime()-c)/float64(b.N), "cpu-ns/op")
	})
}
