package runtime_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/sandbox"
	"github.com/sgde-project/sgde/wasm"
)

// student is an in-process fake student: answer computes the reply for each request.
type student struct {
	answer   func(req llm.Request) (string, error)
	delay    time.Duration
	calls    atomic.Int64
	inFlight atomic.Int64
	peak     atomic.Int64
}

func (s *student) Complete(ctx context.Context, req llm.Request) (llm.Response, error) {
	s.calls.Add(1)
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		p := s.peak.Load()
		if n <= p || s.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if s.delay > 0 {
		t := time.NewTimer(s.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return llm.Response{}, ctx.Err()
		}
	}
	text, err := s.answer(req)
	if err != nil {
		return llm.Response{}, err
	}
	return llm.Response{Text: text, Attempts: 1, Usage: llm.Usage{PromptTokens: 10, CompletionTokens: 2, TotalTokens: 12}}, nil
}

// constant answers every request with text.
func constant(text string) *student {
	return &student{answer: func(llm.Request) (string, error) { return text, nil }}
}

func lastUser(req llm.Request) string { return req.Messages[len(req.Messages)-1].Content }

// fakeBuilder "builds" a code node by passing its source through: the fake engine interprets
// the source's first line as the name of a behaviour.
// A build takes delay, or waits until gate is closed when gate is set; cancelled counts builds
// whose context ended first.
type fakeBuilder struct {
	builds, cancelled atomic.Int64
	delay             time.Duration
	gate              chan struct{}
}

func (b *fakeBuilder) Build(ctx context.Context, src []byte, _ string) (*wasm.Artifact, error) {
	b.builds.Add(1)
	if b.delay > 0 || b.gate != nil {
		var wait <-chan time.Time
		if b.delay > 0 {
			wait = time.After(b.delay)
		}
		select {
		case <-wait:
		case <-b.gate:
		case <-ctx.Done():
			b.cancelled.Add(1)
			return nil, ctx.Err()
		}
	}
	if strings.HasPrefix(string(src), "// broken") {
		return nil, errors.New("compile error: undefined: foo")
	}
	sum := sha256.Sum256(src)
	return &wasm.Artifact{Wasm: src, Digest: "sha256:" + hex.EncodeToString(sum[:])}, nil
}

type fakeEngine struct{ loads, calls atomic.Int64 }

func (e *fakeEngine) Name() plans.EngineName { return "fake" }
func (e *fakeEngine) Load(_ context.Context, w []byte) (sandbox.Module, error) {
	e.loads.Add(1)
	behaviour, _, _ := strings.Cut(string(w), "\n")
	return &fakeModule{behaviour: strings.TrimPrefix(behaviour, "// "), calls: &e.calls}, nil
}
func (e *fakeEngine) Close(context.Context) error { return nil }

type fakeModule struct {
	behaviour string
	calls     *atomic.Int64 // the engine's count of calls
}

func (m *fakeModule) Close(context.Context) error { return nil }

func (m *fakeModule) Call(ctx context.Context, input []byte, _ sandbox.Limits) (sandbox.Result, error) {
	var in map[string]json.Number
	if err := json.Unmarshal(input, &in); err != nil {
		return sandbox.Result{}, fmt.Errorf("%w: %v", sandbox.ErrGuest, err)
	}
	m.calls.Add(1)
	usage := sandbox.Usage{Wall: time.Microsecond, PeakMemoryPages: 17, Fuel: 1234, Metered: true}
	switch m.behaviour {
	case "hang": // an infinite loop the engine stops only when the context ends
		<-ctx.Done()
		return sandbox.Result{Usage: usage}, fmt.Errorf("call: %w", ctx.Err())
	case "double":
		x, _ := in["x"].Float64()
		return sandbox.Result{Output: []byte(fmt.Sprintf(`{"y":%v,"extra":1}`, 2*x)), Usage: usage}, nil
	case "trap":
		return sandbox.Result{Usage: usage}, fmt.Errorf("call: %w: unreachable", sandbox.ErrTrap)
	case "fuel":
		return sandbox.Result{Usage: usage}, fmt.Errorf("call: %w", sandbox.ErrFuelExhausted)
	case "badout":
		return sandbox.Result{Output: []byte(`{"z":1}`), Usage: usage}, nil
	}
	return sandbox.Result{}, fmt.Errorf("%w: unknown behaviour %q", sandbox.ErrGuest, m.behaviour)
}

// mustPlan parses and validates a YAML plan.
func mustPlan(t testing.TB, yaml string) *plans.Plan {
	t.Helper()
	p, err := plans.Parse([]byte(yaml), "test.yaml")
	if err != nil {
		t.Fatalf("plan: %v", err)
	}
	return p
}

// hammer runs f from p goroutines released together.
func hammer(p int, f func(i int)) {
	var start, done sync.WaitGroup
	start.Add(1)
	for i := range p {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			f(i)
		}()
	}
	start.Done()
	done.Wait()
}
