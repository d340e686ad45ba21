//go:build unix

package wasm

import (
	"os/exec"
	"syscall"
)

// setProcessGroup puts the compiler in its own process group so that a timeout kills the go
// command and every compiler and linker it started, not only the parent.
func setProcessGroup(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
}

// killPid sends SIGKILL to one process.
func killPid(pid int) { _ = syscall.Kill(pid, syscall.SIGKILL) }

// processExists reports whether a process with this id runs (or is a zombie).
func processExists(pid int) bool {
	return syscall.Kill(pid, 0) != syscall.ESRCH
}
