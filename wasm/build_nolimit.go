//go:build !linux

package wasm

import (
	"errors"
	"os/exec"
)

// limitChild does nothing where prlimit(2) does not exist: the compiler is bounded by the build
// timeout, the process-group kill and the artefact size check only.
func limitChild(int, buildLimits) error { return nil }

// limitedCommand runs bin uncapped where there is no ulimit -v to rely on.
func limitedCommand(bin string, args []string, _ buildLimits) (string, []string) { return bin, args }

// detectCgroup reports that there are no cgroups outside Linux.
func detectCgroup() (*cgroupParent, error) { return nil, errors.New("cgroups are Linux only") }

// intoCgroup is never called outside Linux (there is no group to start in).
func intoCgroup(*exec.Cmd, *buildCgroup) {}
