//go:build linux

package wasm

import (
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"syscall"
	"unsafe"
)

// Resource numbers of prlimit(2) (asm-generic/resource.h).
const (
	rlimitCPU   = 0
	rlimitFSize = 1
)

// limitedCommand returns the command line that runs bin with args under an address-space cap
// of l.memory bytes (RLIMIT_AS), which every compiler and linker the go command starts
// inherits. It goes through /bin/sh's ulimit -v because the Go runtime sizes its reservations
// by RLIMIT_AS when it starts: a cap set on a running go command (prlimit) makes it fail.
func limitedCommand(bin string, args []string, l buildLimits) (string, []string) {
	if l.memory == 0 {
		return bin, args
	}
	script := `ulimit -v "$1" && shift && exec "$0" "$@"`
	return "/bin/sh", append([]string{"-c", script, bin, strconv.FormatUint(l.memory>>10, 10)}, args...)
}

// limitChild caps the started compiler process pid, and so every compiler and linker it starts
// (they inherit its limits): its CPU seconds (l.cpu; SIGXCPU, then SIGKILL 5 s later) and the
// size of any file it writes (l.fileBytes; SIGXFSZ). The process runs uncapped for the moment
// between its start and this call, before it has started anything.
func limitChild(pid int, l buildLimits) error {
	for _, r := range []struct {
		res      int
		cur, max uint64
	}{
		{rlimitCPU, l.cpuSeconds, l.cpuSeconds + 5},
		{rlimitFSize, l.fileBytes, l.fileBytes},
	} {
		lim := syscall.Rlimit{Cur: r.cur, Max: r.max}
		if _, _, errno := syscall.RawSyscall6(syscall.SYS_PRLIMIT64, uintptr(pid), uintptr(r.res), uintptr(unsafe.Pointer(&lim)), 0, 0, 0); errno != 0 {
			return fmt.Errorf("prlimit %d on the compiler: %w", r.res, errno)
		}
	}
	return nil
}

// detectCgroup finds, once per process, the cgroup v2 group under which builds get child groups
// (see EnvBuildCgroup), or the reason there is none.
var detectCgroup = sync.OnceValues(func() (*cgroupParent, error) {
	mountinfo, _ := os.ReadFile("/proc/self/mountinfo")
	self, _ := os.ReadFile("/proc/self/cgroup")
	dir, err := findCgroupParent(os.Getenv(EnvBuildCgroup), mountinfo, self)
	if err != nil {
		return nil, err
	}
	return openCgroupParent(dir)
})

// intoCgroup makes cmd start inside g (clone3 with CLONE_INTO_CGROUP), so that not even the
// first instruction of the compiler runs outside its limits.
func intoCgroup(cmd *exec.Cmd, g *buildCgroup) {
	cmd.SysProcAttr.UseCgroupFD = true
	cmd.SysProcAttr.CgroupFD = int(g.fd.Fd())
}
