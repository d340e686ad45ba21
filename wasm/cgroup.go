package wasm

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"time"
)

// A build runs in a child cgroup (v2) of its own when one can be made: the group's memory.max
// bounds the compiler's whole process tree (RLIMIT_AS bounds each process only, and the go command
// runs several compilers at once), pids.max and cpu.max bound it further where those controllers
// are delegated, and cgroup.kill ends every process in it, even one that left the process group.
// Where no writable cgroup v2 with the memory controller is delegated to sgde (cgroup v1 hosts,
// most unprivileged users), the per-process rlimits bound each process and a supervisor that
// reads the process group's resident memory every BuildSampleInterval bounds the tree
// (supervise.go, docs/RATIONALE.md). The rlimits apply in both cases.

// Bounds of a build's cgroup besides its memory (the builder's memory cap, for the whole tree).
const (
	// BuildPidsMax bounds the tasks (processes and threads) of one build's cgroup. The go
	// command and a handful of compilers use a few dozen threads each.
	BuildPidsMax = 1024
	// BuildCPUs bounds the CPU bandwidth of one build's cgroup, in CPUs (cpu.max).
	BuildCPUs = 2
)

// EnvBuildCgroup names the environment variable that chooses the cgroup v2 directory under
// which builds get their child groups: a path (a group delegated to sgde, with no processes of
// its own), "off" for the rlimits only, or unset to try the process's own cgroup.
const EnvBuildCgroup = "SGDE_BUILD_CGROUP"

// cgroupParent is a cgroup v2 directory in which sgde may create one child group per build.
type cgroupParent struct {
	dir   string
	pids  bool // the pids controller is enabled for children
	cpu   bool // the cpu controller is enabled for children
	count atomic.Int64
}

// findCgroupParent returns the directory under which builds get their cgroups, or "" and the
// reason there is none. env is $SGDE_BUILD_CGROUP; mountinfo and selfCgroup are the contents of
// /proc/self/mountinfo and /proc/self/cgroup, used when env is empty.
func findCgroupParent(env string, mountinfo, selfCgroup []byte) (string, error) {
	switch env {
	case "off":
		return "", fmt.Errorf("%s=off", EnvBuildCgroup)
	case "":
	default:
		return env, nil
	}
	var mount string
	sc := bufio.NewScanner(bytes.NewReader(mountinfo))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		// "36 35 98:0 / /sys/fs/cgroup rw,nosuid - cgroup2 cgroup2 rw": the mount point is the
		// fifth field, the file system type the first after the " - " separator.
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		f, g := strings.Fields(pre), strings.Fields(post)
		if ok && len(f) >= 5 && len(g) >= 1 && g[0] == "cgroup2" && f[3] == "/" {
			mount = unescapeMount(f[4])
			break
		}
	}
	if mount == "" {
		return "", errors.New("no cgroup2 file system is mounted")
	}
	for _, line := range strings.Split(string(selfCgroup), "\n") {
		if p, ok := strings.CutPrefix(line, "0::"); ok {
			return filepath.Join(mount, filepath.FromSlash(p)), nil
		}
	}
	return "", errors.New("the process is in no cgroup v2 group")
}

// unescapeMount undoes mountinfo's octal escapes (\040 for a space).
func unescapeMount(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) {
			if n, err := strconv.ParseUint(s[i+1:i+4], 8, 8); err == nil {
				b.WriteByte(byte(n))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// openCgroupParent checks that dir can hold memory-limited child groups: the memory controller
// must be available to it and enabled for its children (sgde enables memory, pids and cpu itself
// when it may; the kernel refuses that while dir holds processes, which is why a delegated group
// must be empty).
func openCgroupParent(dir string) (*cgroupParent, error) {
	avail, err := os.ReadFile(filepath.Join(dir, "cgroup.controllers"))
	if err != nil {
		return nil, fmt.Errorf("not a cgroup v2 group: %w", err)
	}
	if !hasWord(avail, "memory") {
		return nil, fmt.Errorf("cgroup %s: the memory controller is not delegated (controllers: %q)", dir, strings.TrimSpace(string(avail)))
	}
	enabled := func() []byte { b, _ := os.ReadFile(filepath.Join(dir, "cgroup.subtree_control")); return b }
	for _, c := range []string{"memory", "pids", "cpu"} {
		if hasWord(avail, c) && !hasWord(enabled(), c) {
			// One controller per write: a refusal of one must not lose the others.
			_ = appendFile(filepath.Join(dir, "cgroup.subtree_control"), "+"+c)
		}
	}
	on := enabled()
	if !hasWord(on, "memory") {
		return nil, fmt.Errorf("cgroup %s: cannot enable the memory controller for child groups (is the group delegated, and empty?)", dir)
	}
	removeStaleGroups(dir)
	return &cgroupParent{dir: dir, pids: hasWord(on, "pids"), cpu: hasWord(on, "cpu")}, nil
}

// removeStaleGroups removes the build groups that sgde processes no longer running left in dir
// (one killed before it could remove its group). The kernel removes only empty groups, so a
// group something still runs in stays.
func removeStaleGroups(dir string) {
	groups, _ := filepath.Glob(filepath.Join(dir, "sgde-build-*-*"))
	for _, g := range groups {
		pid, err := strconv.Atoi(strings.Split(filepath.Base(g), "-")[2])
		if err == nil && pid != os.Getpid() && !processExists(pid) {
			_ = os.Remove(g)
		}
	}
}

// buildCgroup is the child group of one compiler run.
type buildCgroup struct {
	dir string
	fd  *os.File // the directory, for clone3(CLONE_INTO_CGROUP)
}

// newChild makes the group of one build, limited to memory bytes for the whole tree (and no
// swap), BuildPidsMax tasks and BuildCPUs CPUs where those controllers are enabled, and killed
// whole when the kernel runs it out of memory.
func (p *cgroupParent) newChild(memory uint64) (*buildCgroup, error) {
	dir := filepath.Join(p.dir, fmt.Sprintf("sgde-build-%d-%d", os.Getpid(), p.count.Add(1)))
	if err := os.Mkdir(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create build cgroup: %w", err)
	}
	g := &buildCgroup{dir: dir}
	settings := []struct {
		file, value string
		required    bool
	}{
		{"memory.max", strconv.FormatUint(memory, 10), true},
		{"memory.swap.max", "0", false}, // absent without swap accounting
		{"memory.oom.group", "1", false},
		{"pids.max", strconv.Itoa(BuildPidsMax), p.pids},
		{"cpu.max", fmt.Sprintf("%d 100000", BuildCPUs*100000), p.cpu},
	}
	for _, s := range settings {
		if s.file == "pids.max" && !p.pids || s.file == "cpu.max" && !p.cpu {
			continue
		}
		if err := writeFile(filepath.Join(dir, s.file), s.value); err != nil && s.required {
			g.remove()
			return nil, fmt.Errorf("build cgroup %s: %w", s.file, err)
		}
	}
	fd, err := os.Open(dir)
	if err != nil {
		g.remove()
		return nil, fmt.Errorf("open build cgroup: %w", err)
	}
	g.fd = fd
	return g, nil
}

// kill ends every process in the group: cgroup.kill (Linux 5.14), else SIGKILL to each process
// listed in cgroup.procs.
func (g *buildCgroup) kill() {
	if writeFile(filepath.Join(g.dir, "cgroup.kill"), "1") == nil {
		return
	}
	procs, _ := os.ReadFile(filepath.Join(g.dir, "cgroup.procs"))
	for _, f := range strings.Fields(string(procs)) {
		if pid, err := strconv.Atoi(f); err == nil && pid > 0 {
			killPid(pid)
		}
	}
}

// populated reports whether any process is left in the group (cgroup.events).
func (g *buildCgroup) populated() bool {
	ev, err := os.ReadFile(filepath.Join(g.dir, "cgroup.events"))
	if err != nil {
		return false
	}
	return bytes.Contains(ev, []byte("populated 1"))
}

// oomKills is the number of processes the kernel killed for the group's memory limit.
func (g *buildCgroup) oomKills() int {
	ev, _ := os.ReadFile(filepath.Join(g.dir, "memory.events"))
	for _, line := range strings.Split(string(ev), "\n") {
		if v, ok := strings.CutPrefix(line, "oom_kill "); ok {
			n, _ := strconv.Atoi(strings.TrimSpace(v))
			return n
		}
	}
	return 0
}

// release kills whatever the compiler left in the group, waits (up to 2 s) for it to be empty
// and removes it. It reports how many processes ran out of the group's memory.
func (g *buildCgroup) release() (oomKills int) {
	if g.fd != nil {
		g.fd.Close()
	}
	oomKills = g.oomKills()
	g.kill()
	for deadline := time.Now().Add(2 * time.Second); g.populated() && time.Now().Before(deadline); {
		time.Sleep(10 * time.Millisecond)
	}
	g.remove()
	return oomKills
}

// remove deletes the group's directory. A real cgroup's files go with it; a fake one in tests
// (a plain directory) needs them removed first.
func (g *buildCgroup) remove() {
	if os.Remove(g.dir) == nil {
		return
	}
	if ents, err := os.ReadDir(g.dir); err == nil {
		for _, e := range ents {
			_ = os.Remove(filepath.Join(g.dir, e.Name()))
		}
	}
	_ = os.Remove(g.dir)
}

// hasWord reports whether the control file's contents b list w. A leading "+" is ignored: that
// is how a fake group in tests (a plain file) records what sgde enabled.
func hasWord(b []byte, w string) bool {
	for _, f := range strings.Fields(string(b)) {
		if strings.TrimPrefix(f, "+") == w {
			return true
		}
	}
	return false
}

// writeFile writes a cgroup control file. cgroupfs refuses to create files, so O_CREATE only
// matters in a fake group in tests (a plain directory); whether a controller is there was
// decided from cgroup.subtree_control before.
func writeFile(p, v string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	_, err = f.WriteString(v)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// appendFile writes to a control file such as cgroup.subtree_control, whose writes the kernel
// applies as changes; in a fake group (a plain file) they accumulate the same way.
func appendFile(p, v string) error {
	f, err := os.OpenFile(p, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return err
	}
	_, err = f.WriteString(v + "\n")
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
