package compiler

import (
	"context"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
)

// countingProxy forwards to the simulator and counts the requests it saw.
func countingProxy(t *testing.T) (string, *atomic.Int64) {
	t.Helper()
	testEnv(t)
	target, err := url.Parse(simURL)
	if err != nil {
		t.Fatal(err)
	}
	var n atomic.Int64
	apiPath := target.Path
	target.Path = ""
	rp := httputil.NewSingleHostReverseProxy(target)
	rp.ErrorLog = log.New(io.Discard, "", 0) // cut-off requests at the interruption are expected
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + apiPath, &n
}

// ledgerRunner is newRunner through the counting proxy, recording requests in *ledger.
func ledgerRunner(t *testing.T, base, cachePath string, ledger *atomic.Pointer[Ledger]) *runtime.Runner {
	t.Helper()
	cl, err := llm.New(llm.NewConfig(base, simModel).WithConcurrency(8).WithOnSend(func() { ledger.Load().Add() }))
	if err != nil {
		t.Fatal(err)
	}
	c, err := cache.Open(cachePath, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	r, err := runtime.New(runtime.Options{Student: cl, Model: simModel, Cache: c, Engine: engine, Builder: builder, Concurrency: 8})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

// TestResumeCountsEveryRequest interrupts a compile in the middle of an iteration and resumes
// it: the student requests it reports must equal what the endpoint saw, the requests of the
// lost iteration included.
func TestResumeCountsEveryRequest(t *testing.T) {
	if testing.Short() {
		t.Skip("runs code nodes")
	}
	task, items := gsmTask(t)
	base, seen := countingProxy(t)
	dir := t.TempDir()
	var cur atomic.Pointer[Ledger]
	open := func() {
		l, err := OpenLedger(dir)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { l.Close() })
		cur.Store(l)
	}
	open()
	r := ledgerRunner(t, base, filepath.Join(dir, FileCache), &cur)
	ctx, cancel := context.WithCancel(context.Background())
	cfg := smallConfig(t, dir, r, items, task)
	cfg.Iterations = 1
	cfg.Ledger = cur.Load()
	// The crash comes while candidates of iteration 1 are evaluated: their requests were sent
	// but no checkpoint records them.
	var critiqued atomic.Bool
	var ticks atomic.Int64
	cfg.Progress = func(ev Event) {
		if ev.Kind == EventCritique && ev.Iteration == 1 {
			critiqued.Store(true)
		}
	}
	cfg.Tick = func() {
		if critiqued.Load() && ticks.Add(1) == 10 {
			cancel()
		}
	}
	if _, err := Compile(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted compile: err = %v", err)
	}
	st, err := LoadState(dir)
	if err != nil {
		t.Fatal(err)
	}
	checkpointed := st.StudentCalls
	cur.Load().Close()
	open() // a new process: the count comes back from the file
	cfg = smallConfig(t, dir, r, items, task)
	cfg.Iterations = 1
	cfg.Initial = nil
	cfg.Ledger = cur.Load()
	got, err := Resume(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The ledger counts a request as it is sent; one cancelled at the interruption may be
	// counted and never reach the endpoint. So the report may exceed what the endpoint saw by
	// at most the requests in flight then (the client's concurrency, 8), and never fall short.
	const inFlight = 8
	if rep, saw := got.State.StudentCalls, seen.Load(); rep < saw || rep > saw+inFlight {
		t.Errorf("resumed compile reports %d student requests, the endpoint saw %d, want %d to %d (checkpoint before the interruption: %d)",
			rep, saw, saw, saw+inFlight, checkpointed)
	}
}

// TestResumeBeforeFirstCheckpoint: a compile killed before its first checkpoint resumes (by
// starting over) instead of failing with "no checkpoint".
func TestResumeBeforeFirstCheckpoint(t *testing.T) {
	if testing.Short() {
		t.Skip("runs code nodes")
	}
	task, items := gsmTask(t)
	dir := t.TempDir()
	r := newRunner(t, filepath.Join(dir, FileCache))
	ctx, cancel := context.WithCancel(context.Background())
	cfg := smallConfig(t, dir, r, items, task)
	cfg.Iterations = 1
	cfg.Tick = cancel // killed while the initial plan is evaluated
	if _, err := Compile(ctx, cfg); !errors.Is(err, context.Canceled) {
		t.Fatalf("interrupted compile: err = %v", err)
	}
	if _, err := LoadState(dir); err == nil {
		t.Fatal("the interruption came after the first checkpoint: the test exercises nothing")
	}
	// Without an initial plan there is nothing to start over from: a clear error.
	cfg = smallConfig(t, dir, r, items, task)
	cfg.Initial = nil
	if _, err := Resume(context.Background(), cfg); err == nil {
		t.Fatal("resume without a checkpoint or an initial plan succeeded")
	}
	cfg = smallConfig(t, dir, r, items, task)
	cfg.Iterations = 1
	got, err := Resume(context.Background(), cfg)
	if err != nil {
		t.Fatalf("resume before the first checkpoint: %v", err)
	}
	if !got.State.Done || got.State.Iteration != 1 {
		t.Errorf("resumed compile: iteration %d done %v", got.State.Iteration, got.State.Done)
	}
}

// TestLedgerConcurrentAdds drives the ledger as the student client's workers do, from many
// goroutines at once while the loop reads the count (its name puts it in make test's -race
// step): every request is counted once in memory and in the file, and a reopened ledger starts
// from that count.
func TestLedgerConcurrentAdds(t *testing.T) {
	dir := t.TempDir()
	l, err := OpenLedger(dir)
	if err != nil {
		t.Fatal(err)
	}
	const workers, each = 8, 250
	var wg sync.WaitGroup
	stop := make(chan struct{})
	readerDone := make(chan int64)
	go func() { // the loop reading the count while requests go out; it must never go down
		var last int64
		for {
			select {
			case <-stop:
				readerDone <- last
				return
			default:
			}
			n := l.Count()
			if n < last {
				t.Errorf("Count went down: %d after %d", n, last)
			}
			last = n
		}
	}()
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each; i++ {
				l.Add()
			}
		}()
	}
	wg.Wait()
	close(stop)
	<-readerDone
	if got := l.Count(); got != workers*each {
		t.Fatalf("Count = %d, want %d", got, workers*each)
	}
	if err := l.Err(); err != nil {
		t.Fatalf("Err = %v", err)
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, FileLedger))
	if err != nil {
		t.Fatal(err)
	}
	if st.Size() != workers*each {
		t.Fatalf("ledger file holds %d bytes, want %d", st.Size(), workers*each)
	}
	again, err := OpenLedger(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := again.Count(); got != workers*each {
		t.Fatalf("reopened Count = %d, want %d", got, workers*each)
	}
}
