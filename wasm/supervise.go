package wasm

import (
	"context"
	"fmt"
	"sync"
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

// treeBound is the resident memory the compilers' process trees may hold, all the supervised
// builds of this process together, where only the supervisor bounds them: three quarters of the build memory (768 MiB by default), which leaves
// the rest of the 1 GiB that sgde's process tree may use to sgde itself and to what grows
// between two samples. The biggest legitimate build, a cold one that compiles the standard
// library, peaks at about 240 MiB (docs/BENCHMARKS.md).
func (b *Builder) treeBound() uint64 { return b.memory - b.memory/4 }

// memorySupervisor kills a process group whose resident memory passes a bound.
type memorySupervisor struct {
	stop  chan struct{}
	done  chan struct{}
	peak  atomic.Uint64
	total atomic.Uint64 // what every supervised build held together when this one was killed
	over  atomic.Bool
}

// supervised holds the last reading of every build of this process a supervisor watches. The
// bound is on their sum: one input (a plan with several code nodes, built two at a time) must
// not get a bound per build.
var supervised struct {
	sync.Mutex
	rss map[*memorySupervisor]uint64
}

// record stores s's reading and returns what all supervised builds hold together and whether s
// holds the most (ties included): the build to kill when the sum is over the bound. The others
// record their own readings within one interval and are killed in turn if the sum is still over.
func (s *memorySupervisor) record(rss uint64) (total uint64, largest bool) {
	supervised.Lock()
	defer supervised.Unlock()
	if supervised.rss == nil {
		supervised.rss = map[*memorySupervisor]uint64{}
	}
	supervised.rss[s] = rss
	largest = true
	for _, v := range supervised.rss {
		total += v
		largest = largest && v <= rss
	}
	return total, largest
}

// forget removes s's reading once its build has ended.
func (s *memorySupervisor) forget() {
	supervised.Lock()
	delete(supervised.rss, s)
	supervised.Unlock()
}

// superviseMemory reads the resident memory of process group pgid every interval and calls
// kill once when what every supervised build of this process holds together passes bound and
// this group holds the most of it, until stop is called. Where /proc cannot be read it does
// nothing (the rlimits and the timeout alone bound the build).
func superviseMemory(pgid int, bound uint64, interval time.Duration, kill context.CancelFunc) *memorySupervisor {
	s := &memorySupervisor{stop: make(chan struct{}), done: make(chan struct{})}
	r := proctree.NewGroupReader(pgid)
	go func() {
		defer close(s.done)
		defer s.forget()
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
			if total, largest := s.record(rss); total > bound && largest {
				s.total.Store(total)
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

// end stops the supervisor and reports the peak it read, whether it killed the group and, if
// so, what all supervised builds held together at that moment.
func (s *memorySupervisor) end() (peak uint64, killed bool, total uint64) {
	close(s.stop)
	<-s.done
	return s.peak.Load(), s.over.Load(), s.total.Load()
}
