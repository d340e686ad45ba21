package serve

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/redistest"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/cache"
)

func openTestRedis(t *testing.T, url string) *Redis {
	t.Helper()
	r, err := OpenRedis(t.Context(), RedisOptions{URL: url})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func askPlan(t *testing.T) *plans.Plan {
	t.Helper()
	p, err := plans.Load("testdata/llm/ask.yaml")
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestRedisCacheSharedAcrossReplicas(t *testing.T) {
	rd := redistest.Start(t)
	student := &heldStudent{release: make(chan struct{})}
	close(student.release)
	p := askPlan(t)
	var runners []*runtime.Runner
	for range 3 {
		r, err := runtime.New(runtime.Options{Student: student, Model: "held", CacheMode: cache.ModeUse,
			Cache: openTestRedis(t, rd.URL(0)).ResponseCache("dave", CacheOptions{})})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { r.Close(context.Background()) })
		runners = append(runners, r)
	}
	for i, r := range runners {
		res, err := r.Run(t.Context(), p, map[string]any{"question": "q"})
		if err != nil {
			t.Fatal(err)
		}
		if got := fmt.Sprint(res.Output); got != "7" {
			t.Errorf("replica %d: output %s", i, got)
		}
	}
	if n := student.calls.Load(); n != 1 {
		t.Errorf("the student was called %d times for one question on 3 replicas, want 1", n)
	}
	// Another tenant shares nothing.
	other, err := runtime.New(runtime.Options{Student: student, Model: "held", CacheMode: cache.ModeReplay,
		Cache: openTestRedis(t, rd.URL(0)).ResponseCache("erin", CacheOptions{})})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close(context.Background())
	if _, err := other.Run(t.Context(), p, map[string]any{"question": "q"}); runtime.KindOf(err) != runtime.KindCacheMiss {
		t.Errorf("another tenant replayed dave's answer: %v", err)
	}
}

func TestRedisCacheBoundsAndIntegrity(t *testing.T) {
	rd := redistest.Start(t)
	r := openTestRedis(t, rd.URL(0))
	ctx := t.Context()
	c := r.ResponseCache("dave", CacheOptions{TTL: time.Minute, MaxEntries: 3, MaxEntryBytes: 1024})
	for i := range 5 {
		if err := c.Put(fmt.Sprint("k", i), cache.Entry{Text: fmt.Sprint(i)}); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond) // distinct storing times
	}
	for i := range 5 {
		e, ok, err := c.Get(fmt.Sprint("k", i))
		if err != nil {
			t.Fatal(err)
		}
		if want := i >= 2; ok != want || (ok && e.Text != fmt.Sprint(i)) {
			t.Errorf("k%d: ok=%v %q, want kept=%v (the 3 newest)", i, ok, e.Text, want)
		}
	}
	if n := r.c.ZCard(ctx, c.index).Val(); n != 3 {
		t.Errorf("index holds %d entries, want 3", n)
	}
	if ttl := r.c.PTTL(ctx, c.prefix+"k4").Val(); ttl <= 0 || ttl > time.Minute {
		t.Errorf("entry TTL %s, want (0, 1m]", ttl)
	}
	// Too large: not stored.
	c.Put("big", cache.Entry{Text: strings.Repeat("x", 2000)})
	if _, ok, _ := c.Get("big"); ok || c.Stats().Skipped != 1 {
		t.Errorf("an entry over MaxEntryBytes was stored (stats %+v)", c.Stats())
	}
	// Damaged, or stored under another key: ErrCorrupt, which the runtime treats as a miss.
	r.c.Set(ctx, c.prefix+"k3", "garbage", 0)
	v, _ := r.c.Get(ctx, c.prefix+"k4").Bytes()
	r.c.Set(ctx, c.prefix+"k2", v, 0)
	for _, k := range []string{"k3", "k2"} {
		if _, ok, err := c.Get(k); ok || !errors.Is(err, cache.ErrCorrupt) {
			t.Errorf("%s: ok=%v err=%v, want ErrCorrupt", k, ok, err)
		}
	}
}

func TestRedisCacheDown(t *testing.T) {
	rd := redistest.Start(t)
	r := openTestRedis(t, rd.URL(0))
	c := r.ResponseCache("dave", CacheOptions{})
	if err := c.Put("k", cache.Entry{Text: "v"}); err != nil {
		t.Fatal(err)
	}
	rd.Stop()
	// The first command finds Redis gone, the next ones do not wait for it.
	for i := range 3 {
		start := time.Now()
		if _, ok, err := c.Get("k"); ok || err != nil {
			t.Errorf("get %d with Redis down: ok=%v err=%v, want a miss", i, ok, err)
		}
		if err := c.Put("k2", cache.Entry{Text: "v"}); err != nil {
			t.Errorf("put with Redis down: %v", err)
		}
		if d := time.Since(start); i > 0 && d > 50*time.Millisecond {
			t.Errorf("get+put %d took %s with Redis known down", i, d)
		}
	}
	if s := c.Stats(); s.Errors < 1 || s.Misses != 3 {
		t.Errorf("stats %+v", s)
	}
	if r.cacheMisses.Load() != 3 || r.cacheErrs.Load() < 1 {
		t.Errorf("store-wide counts for /metrics: misses %d errors %d", r.cacheMisses.Load(), r.cacheErrs.Load())
	}
	// Replay mode: a miss is a miss.
	student := &heldStudent{release: make(chan struct{})}
	run, err := runtime.New(runtime.Options{Student: student, Model: "held", CacheMode: cache.ModeReplay, Cache: c})
	if err != nil {
		t.Fatal(err)
	}
	defer run.Close(context.Background())
	if _, err := run.Run(t.Context(), askPlan(t), map[string]any{"question": "q"}); runtime.KindOf(err) != runtime.KindCacheMiss {
		t.Errorf("replay with Redis down: %v", err)
	}
	// Back: entries stored before the outage are gone (this redis-server keeps nothing), and
	// new ones are stored again.
	rd.Restart()
	deadline := time.Now().Add(5 * time.Second)
	for r.Check(t.Context()) != nil && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	c.Put("k3", cache.Entry{Text: "v3"})
	if e, ok, err := c.Get("k3"); !ok || err != nil || e.Text != "v3" {
		t.Errorf("after Redis came back: %v %v %v", e, ok, err)
	}
}
