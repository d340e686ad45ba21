package ratelimit

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestTakeRefills(t *testing.T) {
	now := time.Unix(0, 0)
	b := New(2, 1, func() time.Time { return now })
	if ok, _ := b.Take(); !ok {
		t.Fatal("first take refused")
	}
	ok, wait := b.Take()
	if ok || wait != 500*time.Millisecond {
		t.Fatalf("second take: %v %v, want refused with 500ms", ok, wait)
	}
	now = now.Add(500 * time.Millisecond)
	if ok, _ := b.Take(); !ok {
		t.Fatal("take after refill refused")
	}
	now = now.Add(time.Hour) // refill never exceeds the burst
	for i, want := range []bool{true, false} {
		if ok, _ := b.Take(); ok != want {
			t.Fatalf("take %d after an hour: %v, want %v", i, ok, want)
		}
	}
}

func TestNilAndDegenerate(t *testing.T) {
	var b *Bucket
	if ok, _ := b.Take(); !ok {
		t.Error("nil bucket refused")
	}
	if err := b.Wait(context.Background()); err != nil {
		t.Error(err)
	}
	if New(0, 5, nil) != nil || New(-1, 5, nil) != nil {
		t.Error("rate <= 0 must mean no limit")
	}
	if ok, _ := New(1, 0, nil).Take(); !ok {
		t.Error("burst 0 is raised to 1: the first take must pass")
	}
}

func TestWaitOrderAndCancel(t *testing.T) {
	now := time.Unix(0, 0)
	b := New(1000, 1, func() time.Time { return now })
	if err := b.Wait(context.Background()); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := b.Wait(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait with a cancelled context: %v", err)
	}
	// The cancelled waiter gave its reservation back: the balance is 0, not -1, so the next
	// waiter needs one token's time (1ms at 1000/s), not two.
	b.mu.Lock()
	tokens := b.tokens
	b.mu.Unlock()
	if tokens != 0 {
		t.Fatalf("tokens after a cancelled wait = %v, want 0", tokens)
	}
}
