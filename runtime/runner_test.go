package runtime_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
)

func newRunner(t testing.TB, s llm.Completer, conc int) *runtime.Runner {
	t.Helper()
	r, err := runtime.New(runtime.Options{Student: s, Model: "fake", Engine: &fakeEngine{}, Builder: &fakeBuilder{}, Concurrency: conc})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestRunLinear(t *testing.T) {
	s := constant("The answer is 21.")
	r := newRunner(t, s, 4)
	res, err := r.Run(context.Background(), mustPlan(t, planLinear), map[string]any{"question": "what?"})
	if err != nil {
		t.Fatal(err)
	}
	if got := fmt.Sprint(res.Output); got != "42" {
		t.Errorf("output = %v, want 42", got)
	}
	tr := res.Trace
	if len(tr.Nodes) != 2 || tr.Nodes[0].ID != "solve" || tr.Nodes[1].ID != "double" {
		t.Fatalf("trace nodes = %+v", tr.Nodes)
	}
	if p := tr.Nodes[0].Prompt; len(p) != 1 || p[0].Content != "Q: what?" {
		t.Errorf("prompt = %+v", p)
	}
	if tr.Nodes[0].Raw == nil || *tr.Nodes[0].Raw != "The answer is 21." {
		t.Errorf("raw not recorded")
	}
	if c := tr.Nodes[1].Code; c == nil || c.Fuel != 1234 || c.Engine != "fake" {
		t.Errorf("code usage = %+v", c)
	}
	if v, ok := tr.Nodes[1].Value.(map[string]any); !ok || len(v) != 1 {
		t.Errorf("undeclared output fields must be dropped: %v", tr.Nodes[1].Value)
	}
	if tr.Calls != 1 || tr.Tokens.Total != 12 {
		t.Errorf("calls %d tokens %d", tr.Calls, tr.Tokens.Total)
	}
}

func TestInputErrors(t *testing.T) {
	r := newRunner(t, constant("1"), 1)
	p := mustPlan(t, planLinear)
	tests := []struct {
		name   string
		inputs map[string]any
		want   string
	}{
		{"missing", map[string]any{}, `missing input "question"`},
		{"mistyped", map[string]any{"question": json.Number("3")}, `input "question": want string, got number 3`},
		{"unknown", map[string]any{"question": "q", "questoin": "q"}, `unknown input "questoin"`},
		{"nil map", nil, `missing input "question"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := r.Run(context.Background(), p, tt.inputs)
			if runtime.KindOf(err) != runtime.KindInput || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want input_error containing %q", err, tt.want)
			}
			if res.Trace.ErrorKind != runtime.KindInput {
				t.Errorf("trace kind = %q", res.Trace.ErrorKind)
			}
		})
	}
}

func TestNodeFailures(t *testing.T) {
	tests := []struct {
		name         string
		answer       func(llm.Request) (string, error)
		code         string
		wantKind     string
		wantNode     string
		wantAttempts int
	}{
		{"parse failure retried then fails", func(llm.Request) (string, error) { return "no idea", nil }, "double", runtime.KindParse, "solve", 2},
		{"endpoint down", func(llm.Request) (string, error) { return "", fmt.Errorf("%w: refused", llm.ErrUnavailable) }, "double", runtime.KindStudentUnavailable, "solve", 2},
		{"endpoint rejects", func(llm.Request) (string, error) { return "", fmt.Errorf("%w: 400", llm.ErrRejected) }, "double", runtime.KindStudentRejected, "solve", 1},
		{"code traps", func(llm.Request) (string, error) { return "1", nil }, "trap", "code_trap", "double", 1},
		{"code out of fuel", func(llm.Request) (string, error) { return "1", nil }, "fuel", "code_fuel_exhausted", "double", 1},
		{"code breaks its declaration", func(llm.Request) (string, error) { return "1", nil }, "badout", runtime.KindCodeBadOutput, "double", 1},
		{"code does not build", func(llm.Request) (string, error) { return "1", nil }, "broken", runtime.KindBuild, "double", 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := newRunner(t, &student{answer: tt.answer}, 2)
			p := mustPlan(t, strings.Replace(planLinear, "// double", "// "+tt.code, 1))
			res, err := r.Run(context.Background(), p, map[string]any{"question": "q"})
			var ne *runtime.NodeError
			if !errors.As(err, &ne) || ne.Kind != tt.wantKind || ne.NodeID != tt.wantNode {
				t.Fatalf("err = %v, want %s at %s", err, tt.wantKind, tt.wantNode)
			}
			if !strings.Contains(err.Error(), fmt.Sprintf("node %q", tt.wantNode)) {
				t.Errorf("error does not name the node: %v", err)
			}
			last := res.Trace.Nodes[len(res.Trace.Nodes)-1]
			if last.ID != tt.wantNode || last.ErrorKind != tt.wantKind || last.Attempts != tt.wantAttempts {
				t.Errorf("trace node = %s %s attempts %d, want %s %s %d", last.ID, last.ErrorKind, last.Attempts, tt.wantNode, tt.wantKind, tt.wantAttempts)
			}
			if res.Trace.ErrorNode != tt.wantNode {
				t.Errorf("trace error node %q", res.Trace.ErrorNode)
			}
		})
	}
}

func TestParseRetrySucceeds(t *testing.T) {
	n := 0
	s := &student{answer: func(llm.Request) (string, error) {
		n++
		if n == 1 {
			return "hmm", nil
		}
		return "5", nil
	}}
	r := newRunner(t, s, 1)
	res, err := r.Run(context.Background(), mustPlan(t, planLinear), map[string]any{"question": "q"})
	if err != nil {
		t.Fatal(err)
	}
	solve := res.Trace.Nodes[0]
	if solve.Attempts != 2 || len(solve.PriorErrors) != 1 || solve.ParseError != "" {
		t.Errorf("solve trace = attempts %d prior %v parse %q", solve.Attempts, solve.PriorErrors, solve.ParseError)
	}
}

const planFanOut = `
apiVersion: sgde/v1
kind: Plan
metadata: {name: fanout}
inputs: [{name: q, type: string}]
output: join.y
nodes:
%s
  - id: join
    substrate: code
    code:
      source: "// double\npackage main\n"
      inputs: {x: a0}
      outputs: {y: number}
`

func fanOutPlan(n int, timeout string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, "  - id: a%d\n    substrate: llm\n    timeout: %q\n    retries: 2\n    llm: {prompt: \"{{ inputs.q }} %d\", parser: {type: number}}\n", i, timeout, i)
	}
	return fmt.Sprintf(planFanOut, b.String())
}

func TestConcurrencyBound(t *testing.T) {
	for _, conc := range []int{1, 3, 8} {
		t.Run(fmt.Sprint(conc), func(t *testing.T) {
			s := constant("1")
			s.delay = 10 * time.Millisecond
			r := newRunner(t, s, conc)
			if _, err := r.Run(context.Background(), mustPlan(t, fanOutPlan(8, "5s")), map[string]any{"q": "x"}); err != nil {
				t.Fatal(err)
			}
			if p := int(s.peak.Load()); p > conc || p < min(conc, 8)-1 {
				t.Errorf("peak concurrency = %d with bound %d", p, conc)
			}
		})
	}
}

func TestNodeTimeoutRetries(t *testing.T) {
	s := constant("1")
	s.delay = time.Second
	r := newRunner(t, s, 8)
	start := time.Now()
	res, err := r.Run(context.Background(), mustPlan(t, fanOutPlan(1, "20ms")), map[string]any{"q": "x"})
	if runtime.KindOf(err) != runtime.KindTimeout {
		t.Fatalf("err = %v, want timeout", err)
	}
	if res.Trace.Nodes[0].Attempts != 3 || s.calls.Load() != 3 {
		t.Errorf("attempts = %d, calls %d, want 3", res.Trace.Nodes[0].Attempts, s.calls.Load())
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("took %v", d)
	}
}

func TestCancellationLeavesNoGoroutines(t *testing.T) {
	before := goruntime.NumGoroutine()
	s := constant("1")
	s.delay = time.Hour
	r := newRunner(t, s, 4)
	p := mustPlan(t, planConsensus)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 4)
	for range 4 {
		go func() {
			_, err := r.Run(ctx, p, map[string]any{"question": "q"})
			errc <- err
		}()
	}
	time.Sleep(20 * time.Millisecond)
	cancel()
	for range 4 {
		select {
		case err := <-errc:
			if runtime.KindOf(err) != runtime.KindCanceled {
				t.Errorf("err = %v, want canceled", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("run did not return after cancellation")
		}
	}
	waitGoroutines(t, before)
}

// waitGoroutines fails unless the goroutine count settles back to at most want.
func waitGoroutines(t *testing.T, want int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		n := goruntime.NumGoroutine()
		if n <= want {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines left, want <= %d\n%s", n, want, buf[:goruntime.Stack(buf, true)])
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestFailureCancelsSiblings(t *testing.T) {
	before := goruntime.NumGoroutine()
	s := &student{answer: func(req llm.Request) (string, error) {
		if strings.HasSuffix(lastUser(req), " 0") {
			return "", fmt.Errorf("%w: 404", llm.ErrRejected)
		}
		time.Sleep(time.Millisecond)
		return "1", nil
	}}
	s.delay = 0
	r := newRunner(t, s, 8)
	_, err := r.Run(context.Background(), mustPlan(t, fanOutPlan(6, "5s")), map[string]any{"q": "x"})
	if runtime.KindOf(err) != runtime.KindStudentRejected {
		t.Fatalf("err = %v", err)
	}
	waitGoroutines(t, before)
}

func TestHammerRuns(t *testing.T) {
	defer goruntime.GOMAXPROCS(goruntime.GOMAXPROCS(2))
	s := &student{answer: func(req llm.Request) (string, error) {
		return strings.TrimPrefix(lastUser(req), "Q: "), nil
	}}
	r := newRunner(t, s, 4)
	p := mustPlan(t, planLinear)
	prog, err := r.Prepare(p)
	if err != nil {
		t.Fatal(err)
	}
	hammer(8, func(i int) {
		for j := range 20 {
			res, err := prog.Run(context.Background(), map[string]any{"question": fmt.Sprint(i*100 + j)})
			if err != nil {
				t.Error(err)
				return
			}
			if got, want := fmt.Sprint(res.Output), fmt.Sprint(2*(i*100+j)); got != want {
				t.Errorf("output %s, want %s", got, want)
			}
		}
	})
}

func TestPrepareRejects(t *testing.T) {
	p := mustPlan(t, planLinear)
	p.Nodes[1].Code.Digest = "sha256:0000"
	r := newRunner(t, constant("1"), 1)
	if _, err := r.Prepare(p); runtime.KindOf(err) != runtime.KindPlan || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("err = %v, want plan_error about the digest", err)
	}
}

// TestSlowBuildOutlivesNodeTimeout: a cold build longer than the node's timeout fails that
// execution with a timeout but keeps going, so a later run finds the module built; Close stops a
// build in progress.
func TestSlowBuildOutlivesNodeTimeout(t *testing.T) {
	before := goruntime.NumGoroutine()
	b := &fakeBuilder{delay: 150 * time.Millisecond}
	r, err := runtime.New(runtime.Options{Student: constant("2"), Engine: &fakeEngine{}, Builder: b})
	if err != nil {
		t.Fatal(err)
	}
	p := mustPlan(t, strings.Replace(planLinear, "    substrate: code\n", "    substrate: code\n    timeout: 50ms\n", 1))
	in := map[string]any{"question": "q"}
	if _, err := r.Run(context.Background(), p, in); runtime.KindOf(err) != runtime.KindTimeout {
		t.Fatalf("first run: err = %v, want timeout", err)
	}
	time.Sleep(200 * time.Millisecond)
	res, err := r.Run(context.Background(), p, in)
	if err != nil || fmt.Sprint(res.Output) != "4" || b.builds.Load() != 1 {
		t.Fatalf("second run: %v, %v, %d builds", res.Output, err, b.builds.Load())
	}
	// A build in progress when the runner closes is stopped, and Close waits for it.
	b2 := &fakeBuilder{delay: time.Hour}
	r2, _ := runtime.New(runtime.Options{Student: constant("2"), Engine: &fakeEngine{}, Builder: b2})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	r2.Run(ctx, p, in)
	done := make(chan struct{})
	go func() { r2.Close(context.Background()); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Second):
		t.Fatal("Close did not stop the build")
	}
	r.Close(context.Background())
	waitGoroutines(t, before)
}

const planDiamond = `
apiVersion: sgde/v1
kind: Plan
metadata: {name: diamond}
inputs: [{name: x, type: number}]
output: join
nodes:
  - id: a
    substrate: code
    code:
      source: "// double\npackage main\n"
      inputs: {x: inputs.x}
      outputs: {y: number}
  - id: b
    substrate: llm
    llm: {prompt: "{{ a.y }}", parser: {type: number}}
  - id: c
    substrate: llm
    llm: {prompt: "{{ a.y }}", parser: {type: number}}
  - id: join
    substrate: llm
    llm:
      examples: [{user: "example for {{ inputs.x }}", assistant: "ok"}]
      prompt: "{{ b }} and {{ c }} from {{ a }}"
      parser: {type: text}
`

func TestDiamond(t *testing.T) {
	s := &student{answer: func(req llm.Request) (string, error) { return lastUser(req), nil }}
	r := newRunner(t, s, 4)
	res, err := r.Run(context.Background(), mustPlan(t, planDiamond), map[string]any{"x": json.Number("4")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Output != `8 and 8 from {"y":8}` {
		t.Errorf("output = %q", res.Output)
	}
	ids := []string{}
	for _, n := range res.Trace.Nodes {
		ids = append(ids, n.ID)
	}
	if strings.Join(ids, ",") != "a,b,c,join" {
		t.Errorf("trace order = %v", ids)
	}
	join := res.Trace.Nodes[3]
	if len(join.Prompt) != 3 || join.Prompt[0].Content != "example for 4" {
		t.Errorf("examples not rendered: %+v", join.Prompt)
	}
	if _, err := r.Run(context.Background(), mustPlan(t, planDiamond), map[string]any{"x": "four"}); runtime.KindOf(err) != runtime.KindInput {
		t.Errorf("string for a number input: %v", err)
	}
}

func TestWarm(t *testing.T) {
	b := &fakeBuilder{}
	r, _ := runtime.New(runtime.Options{Student: constant("1"), Engine: &fakeEngine{}, Builder: b})
	prog, err := r.Prepare(mustPlan(t, planLinear))
	if err != nil {
		t.Fatal(err)
	}
	if err := prog.Warm(context.Background()); err != nil || b.builds.Load() != 1 {
		t.Fatalf("warm: %v, %d builds", err, b.builds.Load())
	}
	if _, err := prog.Run(context.Background(), map[string]any{"question": "q"}); err != nil || b.builds.Load() != 1 {
		t.Fatalf("run after warm: %v, %d builds", err, b.builds.Load())
	}
	broken, _ := r.Prepare(mustPlan(t, strings.Replace(planLinear, "// double", "// broken", 1)))
	if err := broken.Warm(context.Background()); runtime.KindOf(err) != runtime.KindBuild || !strings.Contains(err.Error(), `node "double"`) {
		t.Errorf("warm of broken code: %v", err)
	}
}

// TestCodeTimeoutNotRetried: a code node that runs past its node timeout is not run again, however
// many retries it has: the same code on the same input would loop again, so a retry would only
// multiply the cost of an infinite loop (issue 18: ~13 s against a 5 s limit).
func TestCodeTimeoutNotRetried(t *testing.T) {
	eng := &fakeEngine{}
	r, err := runtime.New(runtime.Options{Student: constant("2"), Engine: eng, Builder: &fakeBuilder{}})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close(context.Background())
	src := strings.Replace(planLinear, `"// double\npackage main\n"`, `"// hang\npackage main\n"`, 1)
	p := mustPlan(t, strings.Replace(src, "    substrate: code\n", "    substrate: code\n    timeout: 100ms\n    retries: 3\n", 1))
	start := time.Now()
	_, err = r.Run(context.Background(), p, map[string]any{"question": "q"})
	if runtime.KindOf(err) != runtime.KindTimeout {
		t.Fatalf("err = %v, want timeout", err)
	}
	if n := eng.calls.Load(); n != 1 {
		t.Errorf("the looping node was called %d times, want 1", n)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("run took %s for a 100ms timeout", d)
	}
}
