package runtime_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
)

func TestCacheModes(t *testing.T) {
	c, err := cache.Open(filepath.Join(t.TempDir(), "r.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	answer := "7"
	s := &student{answer: func(llm.Request) (string, error) { return answer, nil }}
	p := mustPlan(t, planConsensus)
	in := map[string]any{"question": "q"}
	run := func(mode cache.Mode) (any, error) {
		t.Helper()
		r, err := runtime.New(runtime.Options{Student: s, Model: "m", Cache: c, CacheMode: mode})
		if err != nil {
			t.Fatal(err)
		}
		res, err := r.Run(context.Background(), p, in)
		return res.Output, err
	}
	steps := []struct {
		mode      cache.Mode
		answer    string
		wantCalls int64
		want      string
		wantErr   error
	}{
		{cache.ModeReplay, "7", 0, "", cache.ErrMiss}, // empty cache: replay fails, nothing called
		{cache.ModeUse, "7", 5, "7", nil},             // fills the cache: 5 distinct samples
		{cache.ModeUse, "9", 0, "7", nil},             // served from the cache
		{cache.ModeReplay, "9", 0, "7", nil},          // offline replay
		{cache.ModeOff, "9", 5, "9", nil},             // bypasses it
		{cache.ModeReplay, "9", 0, "7", nil},          // off did not write
		{cache.ModeRefresh, "9", 5, "9", nil},         // overwrites
		{cache.ModeReplay, "1", 0, "9", nil},          // and replay sees the refresh
	}
	for i, st := range steps {
		answer = st.answer
		before := s.calls.Load()
		out, err := run(st.mode)
		if st.wantErr != nil {
			if !errors.Is(err, st.wantErr) || runtime.KindOf(err) != runtime.KindCacheMiss {
				t.Fatalf("step %d (%s): err = %v, want %v", i, st.mode, err, st.wantErr)
			}
		} else if err != nil {
			t.Fatalf("step %d (%s): %v", i, st.mode, err)
		} else if got := out.(interface{ String() string }).String(); got != st.want {
			t.Errorf("step %d (%s): output %s, want %s", i, st.mode, got, st.want)
		}
		if calls := s.calls.Load() - before; calls != st.wantCalls {
			t.Errorf("step %d (%s): %d student calls, want %d", i, st.mode, calls, st.wantCalls)
		}
	}
	if n, _ := c.Len(); n != 5 {
		t.Errorf("cache holds %d entries, want 5 (one per sample)", n)
	}
}

func TestCacheModeNeedsCache(t *testing.T) {
	if _, err := runtime.New(runtime.Options{CacheMode: cache.ModeReplay}); err == nil {
		t.Error("replay without a cache accepted")
	}
}

// TestCacheCorruptEntry: a stored answer whose bytes changed on disk is never used: replay
// fails with cache_corrupt, use asks the student again (and logs it once).
func TestCacheCorruptEntry(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	c, err := cache.Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	s := constant("The answer is 12345.")
	p := mustPlan(t, planOther)
	in := map[string]any{"question": "q"}
	r, _ := runtime.New(runtime.Options{Student: s, Model: "m", Cache: c, CacheMode: cache.ModeUse})
	if res, err := r.Run(context.Background(), p, in); err != nil || fmt.Sprint(res.Output) != "12345" {
		t.Fatalf("first run: %v %v", res, err)
	}
	c.Close()
	b, _ := os.ReadFile(path)
	if !bytes.Contains(b, []byte("12345")) {
		t.Fatal("answer not in the file")
	}
	os.WriteFile(path, bytes.ReplaceAll(b, []byte("12345"), []byte("12346")), 0o644)
	c, err = cache.Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	replay, _ := runtime.New(runtime.Options{Model: "m", Cache: c, CacheMode: cache.ModeReplay})
	if _, err := replay.Run(context.Background(), p, in); runtime.KindOf(err) != runtime.KindCacheCorrupt {
		t.Errorf("replay of a corrupt entry: %v, want %s", err, runtime.KindCacheCorrupt)
	}
	var log bytes.Buffer
	use, _ := runtime.New(runtime.Options{Student: s, Model: "m", Cache: c, CacheMode: cache.ModeUse, Log: slog.New(slog.NewTextHandler(&log, nil))})
	before := s.calls.Load()
	res, err := use.Run(context.Background(), p, in)
	if err != nil || fmt.Sprint(res.Output) != "12345" || s.calls.Load() != before+1 {
		t.Errorf("use mode over a corrupt entry: %v %v, %d new calls (want the student's 12345, 1 call)", res.Output, err, s.calls.Load()-before)
	}
	if st := use.Stats(); st.CacheReadErrors != 1 || !strings.Contains(log.String(), "failed its checksum") {
		t.Errorf("stats %+v, log %q", st, log.String())
	}
	// The entry was rewritten: replay works again.
	if res, err := replay.Run(context.Background(), p, in); err != nil || fmt.Sprint(res.Output) != "12345" {
		t.Errorf("replay after the rewrite: %v %v", res, err)
	}
}
