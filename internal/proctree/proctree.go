// Package proctree measures the resident memory of a tree or group of processes from /proc
// (Linux): the builder's memory supervisor reads it to bound the Go compiler's process group
// where no cgroup does, and tests and benchmarks use it to measure the peak of a process tree.
// Elsewhere every read fails with ErrUnsupported.
package proctree

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

// ErrUnsupported is returned where /proc cannot be read (systems other than Linux).
var ErrUnsupported = errors.New("process memory cannot be read here (no /proc)")

// Proc is one process as /proc/PID/stat describes it.
type Proc struct {
	Pid, PPid, PGrp int
	// RSS is the resident set in bytes: stat's rss field, the same count as VmRSS in
	// /proc/PID/status (anonymous, file and shared-memory pages), read with one read(2).
	RSS uint64
}

var pageSize = uint64(os.Getpagesize())

// Snapshot returns every process /proc lists. Processes that end while it reads are left out.
func Snapshot() ([]Proc, error) {
	d, err := os.Open("/proc")
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return nil, fmt.Errorf("read /proc: %w", err)
	}
	procs := make([]Proc, 0, len(names))
	buf := make([]byte, 1024)
	for _, n := range names {
		pid, err := strconv.Atoi(n)
		if err != nil {
			continue
		}
		if p, ok := readStat(pid, buf); ok {
			procs = append(procs, p)
		}
	}
	return procs, nil
}

// readStat reads /proc/PID/stat into buf and parses the fields Proc holds.
func readStat(pid int, buf []byte) (Proc, bool) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return Proc{}, false
	}
	n, _ := f.Read(buf)
	f.Close()
	return parseStat(pid, buf[:n])
}

// parseStat parses a /proc/PID/stat line: "pid (comm) state ppid pgrp ... rss ...". The command
// name may hold spaces and parentheses, so the fields are counted after the last ')'.
func parseStat(pid int, b []byte) (Proc, bool) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return Proc{}, false
	}
	f := bytes.Fields(b[i+1:])
	// After the command: state(0) ppid(1) pgrp(2) ... vsize(20) rss(21), fields 3, 4, 5, 23
	// and 24 of proc(5).
	if len(f) < 22 {
		return Proc{}, false
	}
	ppid, err1 := strconv.Atoi(string(f[1]))
	pgrp, err2 := strconv.Atoi(string(f[2]))
	rss, err3 := strconv.ParseInt(string(f[21]), 10, 64)
	if err1 != nil || err2 != nil || err3 != nil || rss < 0 {
		return Proc{}, false
	}
	return Proc{Pid: pid, PPid: ppid, PGrp: pgrp, RSS: uint64(rss) * pageSize}, true
}

// GroupRSS sums the resident memory of the processes of process group pgid and counts them.
func GroupRSS(procs []Proc, pgid int) (rss uint64, n int) {
	for _, p := range procs {
		if p.PGrp == pgid {
			rss += p.RSS
			n++
		}
	}
	return rss, n
}

// TreeRSS sums the resident memory of pid and all its descendants and counts them. A process
// whose parent ended was adopted by another (init or a subreaper) and is no longer counted.
func TreeRSS(procs []Proc, pid int) (rss uint64, n int) {
	children := map[int][]int{}
	byPid := map[int]Proc{}
	for _, p := range procs {
		children[p.PPid] = append(children[p.PPid], p.Pid)
		byPid[p.Pid] = p
	}
	stack := []int{pid}
	for len(stack) > 0 {
		q := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		if p, ok := byPid[q]; ok {
			rss += p.RSS
			n++
		}
		stack = append(stack, children[q]...)
	}
	return rss, n
}

// A Sampler samples the resident memory of a set of processes at a fixed interval and keeps the
// peak. Stop it to end its goroutine.
type Sampler struct {
	cancel context.CancelFunc
	done   chan struct{}

	mu      sync.Mutex
	peak    uint64
	peakN   int
	samples int
	err     error
}

// Measure selects the processes a Sampler sums: GroupRSS or TreeRSS with its argument fixed,
// for example func(ps []Proc) (uint64, int) { return proctree.TreeRSS(ps, os.Getpid()) }.
type Measure func([]Proc) (rss uint64, n int)

// Sample starts sampling m every interval until ctx ends or Stop is called.
func Sample(ctx context.Context, interval time.Duration, m Measure) *Sampler {
	ctx, cancel := context.WithCancel(ctx)
	s := &Sampler{cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			s.sample(m)
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
		}
	}()
	return s
}

func (s *Sampler) sample(m Measure) {
	procs, err := Snapshot()
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.err = err
		return
	}
	s.samples++
	if rss, n := m(procs); rss > s.peak {
		s.peak, s.peakN = rss, n
	}
}

// Stop ends the sampling and returns the peak resident memory seen in bytes, the number of
// processes at that peak, and how many samples were taken. err is set when /proc could not be
// read.
func (s *Sampler) Stop() (peak uint64, procs, samples int, err error) {
	s.cancel()
	<-s.done
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.peak, s.peakN, s.samples, s.err
}

// A GroupReader reads the resident memory of one process group again and again at a small cost
// (the builder's supervisor does every 20 ms): it lists /proc, reads stat only for processes it
// has not seen in the previous listing to learn their group, and statm for the group's members.
// A process keeps the group it was first seen in: one that moved to another group (setpgid)
// still counts, which errs on the safe side. A pid that ended and was reused by a new process
// between two reads is taken for the old one, which needs the kernel's pid space to wrap in
// between.
type GroupReader struct {
	pgid int
	seen map[int]bool // pid → member of the group, as of the previous read
	buf  []byte
}

// NewGroupReader returns a reader of process group pgid.
func NewGroupReader(pgid int) *GroupReader {
	return &GroupReader{pgid: pgid, seen: map[int]bool{}, buf: make([]byte, 1024)}
}

// RSS returns the summed resident memory of the group's processes in bytes and their number.
func (r *GroupReader) RSS() (rss uint64, n int, err error) {
	d, err := os.Open("/proc")
	if err != nil {
		return 0, 0, fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	names, err := d.Readdirnames(-1)
	d.Close()
	if err != nil {
		return 0, 0, fmt.Errorf("read /proc: %w", err)
	}
	next := make(map[int]bool, len(names))
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil {
			continue
		}
		member, known := r.seen[pid]
		if !known {
			p, ok := readStat(pid, r.buf)
			if !ok {
				continue // it ended
			}
			member = p.PGrp == r.pgid
			next[pid] = member
			if member && p.RSS > 0 {
				rss += p.RSS
				n++
			}
			continue
		}
		next[pid] = member
		if member {
			// A zombie (ended, not yet reaped) has no memory left: statm reads 0.
			if v, ok := r.statm(pid); ok && v > 0 {
				rss += v
				n++
			}
		}
	}
	r.seen = next
	return rss, n, nil
}

// statm reads the resident set of pid from /proc/PID/statm ("size resident shared ..." in
// pages), which unlike stat does not walk the process's threads.
func (r *GroupReader) statm(pid int) (uint64, bool) {
	f, err := os.Open("/proc/" + strconv.Itoa(pid) + "/statm")
	if err != nil {
		return 0, false
	}
	n, _ := f.Read(r.buf)
	f.Close()
	fs := bytes.Fields(r.buf[:n])
	if len(fs) < 2 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(fs[1]), 10, 64)
	if err != nil {
		return 0, false
	}
	return v * pageSize, true
}
