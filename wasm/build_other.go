//go:build !unix

package wasm

import "os/exec"

// setProcessGroup is a no-op where process groups do not exist; exec.CommandContext still kills
// the compiler driver.
func setProcessGroup(*exec.Cmd) {}
