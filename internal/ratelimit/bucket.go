// Package ratelimit is the token bucket that both the student client (which waits for a token)
// and the server's tenant quotas (which refuse without one) use. It owns no goroutines.
package ratelimit

import (
	"context"
	"sync"
	"time"
)

// Bucket holds up to burst tokens and gains rate tokens per second. A nil *Bucket admits
// everything, so callers need no "unlimited" special case.
type Bucket struct {
	mu     sync.Mutex
	rate   float64
	burst  float64
	tokens float64
	last   time.Time
	now    func() time.Time
}

// New returns a full bucket, or nil (no limit) when rate <= 0. now is the clock; nil means
// time.Now. A burst below 1 is raised to 1, since a bucket that can never hold a whole token
// would refuse everything.
func New(rate float64, burst int, now func() time.Time) *Bucket {
	if rate <= 0 {
		return nil
	}
	if now == nil {
		now = time.Now
	}
	b := float64(max(burst, 1))
	return &Bucket{rate: rate, burst: b, tokens: b, last: now(), now: now}
}

// refill adds what accrued since the last look. The caller holds mu.
func (b *Bucket) refill() {
	t := b.now()
	b.tokens = min(b.burst, b.tokens+t.Sub(b.last).Seconds()*b.rate)
	b.last = t
}

// Take takes a token if one is there. Otherwise it takes nothing and says how long until one
// will be, for a Retry-After.
func (b *Bucket) Take() (ok bool, wait time.Duration) {
	if b == nil {
		return true, 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.refill()
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	return false, time.Duration((1 - b.tokens) / b.rate * float64(time.Second))
}

// Wait blocks until it has a token or ctx is done. Waiters reserve their token ahead (the
// balance goes negative), so they are served in arrival order; a waiter that gives up returns
// its reservation.
func (b *Bucket) Wait(ctx context.Context) error {
	if b == nil {
		return ctx.Err()
	}
	b.mu.Lock()
	b.refill()
	b.tokens--
	deficit := -b.tokens
	b.mu.Unlock()
	if deficit <= 0 {
		return nil
	}
	t := time.NewTimer(time.Duration(deficit / b.rate * float64(time.Second)))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		b.mu.Lock()
		b.tokens++
		b.mu.Unlock()
		return ctx.Err()
	}
}
