package serve

import (
	"context"
	"errors"
	"math"
	"sync"
	"time"

	"github.com/sgde-project/sgde/internal/ratelimit"
)

// retryAfterSeconds renders a wait as the whole seconds of a Retry-After header (at least 1).
func retryAfterSeconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

// ErrStateUnavailable is returned by a Quotas whose shared store cannot be reached. The server
// then answers 503 with Retry-After, or applies its in-process quotas when told to fail open.
var ErrStateUnavailable = errors.New("shared state store unavailable")

// Refusal reasons of a Decision.
const (
	ReasonRate  = "rate"
	ReasonQuota = "quota"
)

// Decision is the answer of Quotas.Admit.
type Decision struct {
	// OK admits the request.
	OK bool
	// Reason says which limit refused it: ReasonRate or ReasonQuota.
	Reason string
	// Wait is how long until the refused request would be admitted (for Retry-After).
	Wait time.Duration
}

// Quotas enforces the tenants' request rates, request quotas per window and concurrency. There
// are two: in-process (each replica counts alone; the default) and Redis (replicas share the
// counts, see OpenRedis).
type Quotas interface {
	// Admit takes one request from the tenant's rate budget and its quota window.
	Admit(ctx context.Context, t *Tenant) (Decision, error)
	// Acquire takes one of the tenant's concurrency slots without waiting (a full tenant is told
	// to retry rather than queued). release gives it back; it is nil when ok is false.
	Acquire(ctx context.Context, t *Tenant) (release func(), ok bool, err error)
	// Check reports whether the store answers; the in-process one always does.
	Check(ctx context.Context) error
}

// localQuotas counts in this process only.
type localQuotas struct {
	tenants map[*Tenant]*localTenant
}

type localTenant struct {
	bucket *ratelimit.Bucket
	slots  slots

	mu     sync.Mutex
	window int64 // index of the current quota window
	count  int64 // requests admitted in it
}

// newLocalQuotas returns the in-process quotas of every tenant in ts.
func newLocalQuotas(ts *Tenants, now func() time.Time) *localQuotas {
	q := &localQuotas{tenants: map[*Tenant]*localTenant{}}
	for _, t := range ts.list {
		q.tenants[t] = &localTenant{bucket: ratelimit.New(t.rate, t.burst, now), slots: newSlots(t.concurrency)}
	}
	return q
}

func (q *localQuotas) Admit(_ context.Context, t *Tenant) (Decision, error) {
	lt := q.tenants[t]
	if t.quota > 0 {
		// Windows are aligned on the Unix epoch, as in Redis, so that a replica that fails open
		// counts in the same windows as the others. The lock spans the bucket too, so that two
		// requests never both take the last request of a window.
		lt.mu.Lock()
		defer lt.mu.Unlock()
		now := time.Now()
		w := now.UnixNano() / int64(t.quotaWindow)
		if w != lt.window {
			lt.window, lt.count = w, 0
		}
		if lt.count >= t.quota {
			return Decision{Reason: ReasonQuota, Wait: time.Unix(0, (w+1)*int64(t.quotaWindow)).Sub(now)}, nil
		}
	}
	if ok, wait := lt.bucket.Take(); !ok {
		return Decision{Reason: ReasonRate, Wait: wait}, nil
	}
	if t.quota > 0 {
		lt.count++ // under lt.mu, taken above
	}
	return Decision{OK: true}, nil
}

func (q *localQuotas) Acquire(_ context.Context, t *Tenant) (func(), bool, error) {
	s := q.tenants[t].slots
	if !s.acquire() {
		return nil, false, nil
	}
	return s.release, true, nil
}

func (q *localQuotas) Check(context.Context) error { return nil }

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
