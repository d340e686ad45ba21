package wasm

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/sgde-project/sgde/internal/proctree"
)

// ErrBuildMemory is the error of a build whose process tree passed its memory bound (the
// supervisor's, where no cgroup bounds the build, or the cgroup's). It wraps ErrBuildFailed.
var ErrBuildMemory = fmt.Errorf("build ran out of memory: %w", ErrBuildFailed)

// BuildSampleInterval is how often the memory supervisor reads the resident memory of the
// compiler's process group where no cgroup bounds it. What a process tree allocates between two
// reads (and during the read and the kill) goes past the bound unseen: the rate at which the Go
// compiler can touch new memory times the interval, tens of MiB (docs/RATIONALE.md); each
// process stays under its RLIMIT_AS whatever happens. A read costs about 0.1 ms of CPU.
const BuildSampleInterval = 20 * time.Millisecond

// treeBound is the resident memory the compiler's whole process tree may hold where only the
// supervisor bounds it: three quarters of the build memory (768 MiB by default), which leaves
// the rest of the 1 GiB that sgde's process tree may use to sgde itself and to what grows
// between two samples. The biggest legitimate build, a cold one that compiles the standard
// library, peaks at about 240 MiB (docs/BENCHMARKS.md).
func (b *Builder) treeBound() uint64 { return b.memory - b.memory/4 }

// memorySupervisor kills a process group whose resident memory passes a bound.
type memorySupervisor struct {
	stop chan struct{}
	done chan struct{}
	peak atomic.Uint64
	over atomic.Bool
}

// superviseMemory reads the resident memory of process group pgid every interval and calls
// kill once when it passes bound, until stop is called. Where /proc cannot be read it does
// nothing (the rlimits and the timeout alone bound the build).
func superviseMemory(pgid int, bound uint64, interval time.Duration, kill context.CancelFunc) *memorySupervisor {
	s := &memorySupervisor{stop: make(chan struct{}), done: make(chan struct{})}
	r := proctree.NewGroupReader(pgid)
	go func() {
		defer close(s.done)
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			rss, _, err := r.RSS()
			if err != nil {
				return
			}
			if rss > s.peak.Load() {
				s.peak.Store(rss)
			}
			if rss > bound {
				s.over.Store(true)
				kill()
				return
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// end stops the supervisor and reports the peak it read and whether it killed the group.
func (s *memorySupervisor) end() (peak uint64, killed bool) {
	close(s.stop)
	<-s.done
	return s.peak.Load(), s.over.Load()
}
