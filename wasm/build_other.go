//go:build !unix

package wasm

import "os/exec"

// setProcessGroup is a no-op where process groups do not exist; exec.CommandContext still kills
// the compiler driver.
func setProcessGroup(*exec.Cmd) {}

// killPid cannot signal a single process by id here; the build timeout still ends the driver.
func killPid(int) {}

// processExists cannot tell here, so every process is taken to exist.
func processExists(int) bool { return true }
