//go:build !linux

package sandbox

import (
	"context"
	"fmt"
)

// isReactor is false off Linux: pooled instances map their memory with mmap and madvise, so
// reactors are loaded (and refused for lacking _start) like any other module.
func isReactor([]byte) bool { return false }

// reactorsSupported: see isReactor.
const reactorsSupported = false

func (e *meteredEngine) loadReactor(context.Context, []byte) (Module, error) {
	return nil, fmt.Errorf("%w: pre-initialised modules need Linux", ErrInvalidModule)
}
