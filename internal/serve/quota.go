package serve

import (
	"math"
	"time"
)

// retryAfterSeconds renders a wait as the whole seconds of a Retry-After header (at least 1).
func retryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

// slots bounds the requests of one tenant in flight. A nil slots admits everything.
type slots chan struct{}

func newSlots(n int) slots {
	if n <= 0 {
		return nil
	}
	return make(slots, n)
}

// acquire takes a slot without waiting: a full tenant is told to retry rather than queued, so
// one tenant's backlog never holds server memory or delays its own later requests unboundedly.
func (s slots) acquire() bool {
	if s == nil {
		return true
	}
	select {
	case s <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s slots) release() {
	if s != nil {
		<-s
	}
}
