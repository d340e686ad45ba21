package compiler

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/metric"
)

// dayStudent is an in-process student for the day-of-year task: it answers right except on
// items whose day of month is divisible by 4.
type dayStudent struct{}

func (dayStudent) Complete(_ context.Context, req llm.Request) (llm.Response, error) {
	q := req.Messages[len(req.Messages)-1].Content
	d, err := time.Parse("2006-01-02", strings.TrimSpace(q))
	if err != nil {
		return llm.Response{Text: "0"}, nil
	}
	n := d.YearDay()
	if d.Day()%4 == 0 {
		n += 3
	}
	return llm.Response{Text: fmt.Sprint(n), Attempts: 1}, nil
}

const dayPlan = `apiVersion: sgde/v1
kind: Plan
metadata: {name: day-of-year}
inputs: [{name: date, type: string}]
output: answer
nodes:
  - id: answer
    substrate: llm
    llm: {prompt: "{{ inputs.date }}", parser: {type: integer}}
`

func dayItems(dates ...string) []runtime.Item {
	items := make([]runtime.Item, len(dates))
	for i, s := range dates {
		d, _ := time.Parse("2006-01-02", s)
		items[i] = runtime.Item{ID: fmt.Sprint(i), Inputs: map[string]any{"date": s}, Label: d.YearDay()}
	}
	return items
}

// dayOfYear is a code node body; bug is Go inserted before the return to make it wrong, or
// after reading the input when it starts with "pre:".
func dayOfYear(bug string) string {
	pre := ""
	if p, ok := strings.CutPrefix(bug, "pre:"); ok {
		pre, bug = p+"\n", ""
	}
	return guestSource(`		s, _ := in["date"].(string)
` + pre + `		var y, m, d int
		if _, err := fmt.Sscanf(s, "%d-%d-%d", &y, &m, &d); err != nil {
			return nil, fmt.Errorf("not a date: %q", s)
		}
		days := []int{31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31}
		if y%4 == 0 && (y%100 != 0 || y%400 == 0) {
			days[1] = 29
		}
		n := d
		for i := 0; i < m-1 && i < 12; i++ {
			n += days[i]
		}
` + bug + `
		return map[string]any{"answer": n}, nil`)
}

func probeSetup(t *testing.T, train []runtime.Item, limit string) (*compiler, *plans.Plan, Scores) {
	t.Helper()
	testEnv(t)
	r, err := runtime.New(runtime.Options{Student: dayStudent{}, Model: "day", Engine: engine, Builder: builder, Concurrency: 2})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	inc, err := plans.Parse([]byte(dayPlan), "day.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{Initial: inc, Train: train, Heldout: train, Metric: metric.Exact{}, Runner: r, Probe: 4, Workers: 4,
		CodeLimits: &plans.Limits{Timeout: limit}}
	cfg.defaults()
	c := &compiler{cfg: cfg, st: &State{}}
	ev, err := Evaluate(context.Background(), r, inc, train, metric.Exact{}, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c, inc, ev
}

func offloadDay(t *testing.T, c *compiler, inc *plans.Plan, src string) *plans.Plan {
	t.Helper()
	q, err := edit.Apply(inc, edit.Edit{Action: edit.Offload, Node: "answer", Source: src,
		Inputs: map[string]string{"date": "inputs.date"}, Outputs: map[string]plans.Type{"answer": plans.TypeInteger}})
	if err != nil {
		t.Fatal(err)
	}
	c.limitNewCode(inc, q)
	return q
}

// TestProbes: each probe kind rejects the fault it is there for, says which probes passed,
// and a node that never stops costs one time limit, not one per probe item.
func TestProbes(t *testing.T) {
	if testing.Short() {
		t.Skip("builds code nodes to WebAssembly")
	}
	train := dayItems("2023-01-05", "2023-02-13", "2023-03-08", "2023-12-09", "2024-03-01", "2023-07-21", "2023-12-30", "2024-05-17")
	c, inc, ev := probeSetup(t, train, "1s")
	cases := []struct {
		name, bug string
		want      string // "" accepted by the probes
		failKind  string
	}{
		{"correct", "", "", ""},
		{"off by one in December", "\t\tif m == 12 {\n\t\t\tn--\n\t\t}", "fails its trace probes", ProbeTrace},
		{"crash on empty input", "pre:\t\t_ = s[len(s)-1]", "fails its edge probes", ProbeEdge},
		{"infinite loop", "\t\tfor n > 0 {\n\t\t\tn = n%7 + 1\n\t\t}", "hit a limit", ProbeTrace},
		{"memory bomb", "\t\tvar keep [][]byte\n\t\tfor n > 0 {\n\t\t\tkeep = append(keep, make([]byte, 1<<20))\n\t\t}\n\t\t_ = keep", "hit a limit", ProbeTrace},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := fixSource(dayOfYear(tc.bug))
			if _, err := builder.Build(context.Background(), []byte(src), "answer"); err != nil {
				t.Fatal(err) // warm the build cache so the timing below is the probe's
			}
			q := offloadDay(t, c, inc, src)
			start := time.Now()
			why, probes, err := c.probeCandidate(context.Background(), inc, q, ev)
			took := time.Since(start)
			if err != nil {
				t.Fatal(err)
			}
			for _, p := range probes {
				t.Logf("probe %s", p)
			}
			if tc.want == "" {
				if why != "" {
					t.Fatalf("rejected: %s", why)
				}
				if len(probes) != 3 || probes[0].Passed != len(train) || probes[2].Passed != probes[2].Run || probes[2].Run == 0 {
					t.Fatalf("probes %v: want every trace and edge probe passed", probes)
				}
				return
			}
			if !strings.Contains(why, tc.want) {
				t.Fatalf("reason %q, want %q", why, tc.want)
			}
			last := probes[len(probes)-1]
			if last.Kind != tc.failKind || last.Failure == "" {
				t.Errorf("last probe %v, want a failed %s probe", last, tc.failKind)
			}
			// A limit stops the probe at once: one item hits it, and the wall time is one node
			// limit (1 s) plus a module load, with a wide margin for a loaded machine.
			if last.Run != 1 && strings.Contains(tc.want, "limit") {
				t.Errorf("the trace probe ran %d items, want it stopped at the first", last.Run)
			}
			// Wall time is logged, not asserted (timing goals live in benchmarks): with a cold
			// wazero cache (a fresh clone) the module's first load alone took 13 s on the loaded
			// 2-core machine. The stop itself is asserted above by the items run.
			t.Logf("probing took %s with a 1s node limit", took)
		})
	}
}

func fixSource(s string) string {
	return strings.Replace(s, "import \"github.com/sgde-project/sgde/wasm/guest\"", "import (\n\t\"fmt\"\n\n\t\"github.com/sgde-project/sgde/wasm/guest\"\n)", 1)
}

// TestPlanProbeStopsAtFirstLimit: when the trace probe cannot run the node alone (it reads a
// re-prompted node), the plan probe runs it; once it loops on one item, the items still queued
// or running are cancelled instead of each paying the time limit.
func TestPlanProbeStopsAtFirstLimit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds code nodes to WebAssembly")
	}
	train := dayItems("2023-01-05", "2023-05-13", "2023-06-08", "2023-12-09", "2024-07-01", "2023-07-21", "2023-12-30", "2024-05-17")
	c, inc, ev := probeSetup(t, train, "1s")
	c.cfg.Probe = 8
	src := guestSource(`		s, _ := in["n"].(string)
		n, _ := strconv.Atoi(strings.TrimSpace(s))
		for n > 100 {
			n = n%7 + 101
		}
		return map[string]any{"answer": n}, nil`)
	src = strings.Replace(src, "import \"github.com/sgde-project/sgde/wasm/guest\"", "import (\n\t\"strconv\"\n\t\"strings\"\n\n\t\"github.com/sgde-project/sgde/wasm/guest\"\n)", 1)
	if _, err := builder.Build(context.Background(), []byte(src), "answer_code"); err != nil {
		t.Fatal(err)
	}
	q, err := edit.Apply(inc, edit.Edit{Action: edit.Offload, Node: "answer", ID: "answer_code", Prompt: " {{ inputs.date }}",
		Source: src, Inputs: map[string]string{"n": "answer"}, Outputs: map[string]plans.Type{"answer": plans.TypeInteger}})
	if err != nil {
		t.Fatal(err)
	}
	c.limitNewCode(inc, q)
	start := time.Now()
	why, probes, err := c.probeCandidate(context.Background(), inc, q, ev)
	took := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%s in %s; probes %v", why, took, probes)
	if !strings.Contains(why, "hit a limit") {
		t.Fatalf("reason %q, want a limit", why)
	}
	if probes[0].Kind != ProbeTrace || !strings.HasPrefix(probes[0].Failure, "skipped") {
		t.Errorf("trace probe %v, want skipped", probes[0])
	}
	// Seven looping items on two sandbox slots would take four time limits; stopping at the first
	// hit takes one (plus the module's first load; the margin is for a loaded machine).
	if probes[1].Run >= 8 {
		t.Errorf("the plan probe recorded %d items, want it stopped before the batch ended", probes[1].Run)
	}
	// took is logged above, not asserted: see TestProbes.
}

// TestConsumerExpectation: a new node that is not the plan's output is held to what the node it
// replaces gave its consumer on the items the incumbent got right.
func TestConsumerExpectation(t *testing.T) {
	if testing.Short() {
		t.Skip("builds code nodes to WebAssembly")
	}
	train := dayItems("2023-01-05", "2023-02-13", "2023-03-08", "2023-12-09", "2024-03-01", "2023-07-21", "2023-12-30", "2024-05-17")
	c, _, _ := probeSetup(t, train, "2s")
	relay := guestSource(`		return map[string]any{"answer": in["n"]}, nil`)
	inc, err := plans.Parse([]byte(dayPlan+`  - id: relay
    substrate: code
    code:
      source: `+fmt.Sprintf("%q", relay)+`
      inputs: {n: answer}
      outputs: {answer: integer}
`), "day2.yaml")
	if err != nil {
		t.Fatal(err)
	}
	inc.Output = "relay.answer"
	if err := inc.Validate(); err != nil {
		t.Fatal(err)
	}
	c.cfg.Initial = inc
	ev, err := Evaluate(context.Background(), c.cfg.Runner, inc, train, metric.Exact{}, 4, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ bug, want string }{
		{"", ""},
		{"\t\tif m == 12 {\n\t\t\tn--\n\t\t}", "gives its consumer"},
	} {
		q := offloadDay(t, c, inc, fixSource(dayOfYear(tc.bug)))
		why, probes, err := c.probeCandidate(context.Background(), inc, q, ev)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("%q: %v", why, probes)
		if (tc.want == "") != (why == "") || !strings.Contains(why, tc.want) {
			t.Errorf("reason %q, want %q", why, tc.want)
		}
		if tc.want == "" && (len(probes) == 0 || probes[0].Kind != ProbeTrace || probes[0].Passed == 0) {
			t.Errorf("probes %v: want trace probes passed", probes)
		}
	}
}
