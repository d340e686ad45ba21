//go:build !linux

package redistest

import "os/exec"

// dieWithParent is a no-op where the kernel offers no parent-death signal: Stop, at the test's
// cleanup, is then the only thing that ends the server.
func dieWithParent(*exec.Cmd) {}
