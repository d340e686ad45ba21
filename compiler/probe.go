package compiler

import (
	"context"
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/sgde-project/sgde/compiler/library"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/trace"
)

// Probe kinds, in the order a candidate meets them.
const (
	// ProbeTrace runs the new node alone on the inputs the incumbent's training traces give it,
	// against the label where the node's output is the plan's output.
	ProbeTrace = "trace"
	// ProbePlan runs the whole candidate plan on the first training items.
	ProbePlan = "plan"
	// ProbeReference runs the new node and a vetted catalogue module with the same interface on
	// the inputs the plan probe gave the node; they must agree.
	ProbeReference = "reference"
	// ProbeEdge runs the new node alone on generated inputs (empty, boundary, very large,
	// unicode), checked only for crashes and limits.
	ProbeEdge = "edge"
)

// ProbeResult is how a candidate's new code node did on one kind of probe.
type ProbeResult struct {
	Node string `json:"node"`
	Kind string `json:"kind"`
	// Passed of Run probe items passed; Run stops at the first limit hit.
	Passed int `json:"passed"`
	Run    int `json:"run"`
	// Failure says why the probe rejected the candidate, or why it could not run ("skipped").
	Failure string `json:"failure,omitempty"`
}

// String is the one-line form used in logs and the report.
func (p ProbeResult) String() string {
	s := fmt.Sprintf("%s %s %d/%d", p.Node, p.Kind, p.Passed, p.Run)
	if p.Failure != "" {
		s += ": " + p.Failure
	}
	return s
}

// probeCandidate tests, in the sandbox, the code nodes of cand that the incumbent does not have,
// before the held-out batch pays for them. In order, each stopping the candidate at its first
// failure:
//
//  1. trace probes: each new node alone on every input the incumbent's training traces give it
//     (when all it reads is plan inputs or nodes the candidate left unchanged); where its output
//     is the plan's output, it must not be wrong on an item the incumbent got right, nor on
//     more than 2% of the items; where it replaces a node a consumer reads, it must give that
//     consumer what the replaced node gave it on the items the incumbent got right;
//  2. the plan probe: the whole plan on the first Probe training items (build, limits, traps,
//     and right on at least half of the items where the node ran);
//  3. the reference probe: where a vetted module has the node's interface, the node must
//     return the label wherever the module does, on the inputs the plan probe gave it;
//  4. edge probes: the node alone on generated inputs (empty, boundary, very large, unicode),
//     which must not crash or hit a limit (returning an error is fine).
//
// Probe items run one at a time for the node-alone probes and stop at the first limit hit, so
// a node that loops forever costs one node time limit per probe kind at most. It returns the
// reason for rejecting, or "", and what each probe found.
func (c *compiler) probeCandidate(ctx context.Context, inc, cand *plans.Plan, train Scores) (string, []ProbeResult, error) {
	fresh := freshCode(inc, cand)
	if len(fresh) == 0 {
		return "", nil, nil
	}
	ids := make([]string, 0, len(fresh))
	for id := range fresh {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var results []ProbeResult
	observed := map[string]map[string]any{} // an input each node was seen to get
	// The node-alone probes run top-level nodes; a branch's code is tested in the plan probe.
	var top []string
	for _, id := range ids {
		if nodeByID(cand, id) != nil {
			top = append(top, id)
		}
	}
	for _, id := range top {
		if c.cfg.NodeProbesOff {
			break
		}
		pr, seen, why, err := c.traceProbe(ctx, inc, cand, id, train)
		if err != nil {
			return "", results, err
		}
		if seen != nil {
			observed[id] = seen
		}
		results = append(results, pr)
		if why != "" {
			return why, results, nil
		}
	}
	why, planRes, seen, err := c.planProbe(ctx, cand, fresh)
	if err != nil {
		return "", results, err
	}
	results = append(results, planRes...)
	if why != "" {
		return why, results, nil
	}
	for id, ins := range seen {
		if observed[id] == nil && len(ins) > 0 {
			observed[id] = ins[0].in
		}
	}
	for _, id := range top {
		if c.cfg.NodeProbesOff {
			break
		}
		pr, why, err := c.referenceProbe(ctx, cand, id, seen[id])
		if err != nil {
			return "", results, err
		}
		if pr.Run > 0 || pr.Failure != "" {
			results = append(results, pr)
		}
		if why != "" {
			return why, results, nil
		}
	}
	for _, id := range top {
		if c.cfg.NodeProbesOff {
			break
		}
		pr, why, err := c.edgeProbe(ctx, cand, id, observed[id])
		if err != nil {
			return "", results, err
		}
		results = append(results, pr)
		if why != "" {
			return why, results, nil
		}
	}
	return "", results, nil
}

// freshCode returns the ids of cand's code nodes whose source the incumbent does not run,
// inside router branches too (a teacher's route edit may offload in a branch): those are tested
// by the plan probe only, the node-alone probes being for top-level nodes.
func freshCode(inc, cand *plans.Plan) map[string]bool {
	old := map[string]bool{}
	inc.Walk(func(_ *plans.Plan, n *plans.Node) {
		if n.Code != nil {
			old[n.Code.SourceText()] = true
		}
	})
	fresh := map[string]bool{}
	cand.Walk(func(_ *plans.Plan, n *plans.Node) {
		if n.Code != nil && !old[n.Code.SourceText()] {
			fresh[n.ID] = true
		}
	})
	return fresh
}

func nodeByID(p *plans.Plan, id string) *plans.Node {
	for i := range p.Nodes {
		if p.Nodes[i].ID == id {
			return &p.Nodes[i]
		}
	}
	return nil
}

// unchanged reports whether node id, and everything it reads, is the same in both plans, so
// that its values in the incumbent's traces are the values the candidate would give it.
func unchanged(inc, cand *plans.Plan, id string, depth int) bool {
	a, b := nodeByID(inc, id), nodeByID(cand, id)
	if a == nil || b == nil || depth > len(cand.Nodes) {
		return false
	}
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	if string(ja) != string(jb) {
		return false
	}
	for _, dep := range cand.Dependencies(id) {
		if !unchanged(inc, cand, dep, depth+1) {
			return false
		}
	}
	return true
}

// probeInputs rebuilds, from one training trace, the input object node n would get: nil when a
// reference cannot be resolved from the incumbent's trace.
func probeInputs(inc, cand *plans.Plan, n *plans.Node, it runtime.Item, tr *trace.Run) map[string]any {
	in := make(map[string]any, len(n.Code.Inputs))
	for name, ref := range n.Code.Inputs {
		r, err := plans.ParseRef(ref)
		if err != nil {
			return nil
		}
		if r.Input != "" {
			v, ok := it.Inputs[r.Input]
			if !ok {
				return nil
			}
			in[name] = v
			continue
		}
		if tr == nil || !unchanged(inc, cand, r.Node, 0) {
			return nil
		}
		var v any
		found := false
		for _, tn := range tr.Nodes {
			if tn != nil && tn.ID == r.Node && tn.Error == "" {
				v, found = tn.Value, true
			}
		}
		if !found {
			return nil
		}
		if r.Field != "" {
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			if v, ok = m[r.Field]; !ok {
				return nil
			}
		}
		in[name] = v
	}
	return in
}

// soloPlan is a plan of node id alone, reading its input fields as plan inputs and returning
// what the candidate plan would return when the node is its output (else the node's object).
// Input types are read off sample, an input object the node is known to accept.
func soloPlan(cand *plans.Plan, id string, sample map[string]any) (*plans.Plan, error) {
	n := nodeByID(cand, id)
	if n == nil || n.Code == nil {
		return nil, fmt.Errorf("probe: no code node %q", id)
	}
	q := &plans.Plan{APIVersion: cand.APIVersion, Kind: cand.Kind, Defaults: cand.Defaults,
		Metadata: plans.Metadata{Name: cand.Metadata.Name + "-probe"}, Output: id}
	if r, err := plans.ParseRef(cand.Output); err == nil && r.Node == id {
		q.Output = cand.Output
	}
	node := *n
	code := *n.Code
	code.Inputs = map[string]string{}
	names := make([]string, 0, len(n.Code.Inputs))
	for name := range n.Code.Inputs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		code.Inputs[name] = "inputs." + name
		q.Inputs = append(q.Inputs, plans.Input{Name: name, Type: typeOf(sample[name])})
	}
	node.Code = &code
	node.Retries = 0 // deterministic code: a retry repeats the failure and its cost
	q.Nodes = []plans.Node{node}
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("probe plan for %s: %w", id, err)
	}
	return q, nil
}

// typeOf is the plan type of a decoded JSON value (string for null: a plan input needs a type,
// and the node then meets a value it may not expect, which is what a probe is for).
func typeOf(v any) plans.Type {
	switch v.(type) {
	case json.Number, float64, float32, int, int64:
		return plans.TypeNumber
	case bool:
		return plans.TypeBoolean
	case map[string]any:
		return plans.TypeObject
	case []any:
		return plans.TypeArray
	}
	return plans.TypeString
}

// isPlanOutput reports whether node id's output is what the candidate returns.
func isPlanOutput(cand *plans.Plan, id string) bool {
	r, err := plans.ParseRef(cand.Output)
	return err == nil && r.Node == id
}

// soloFailure classifies a failed solo run: a limit or trap, a crash (panic), or "" for an
// error the node returned itself, which is how code should refuse an input it cannot handle.
func soloFailure(err error, tn *trace.Node) string {
	kind := runtime.KindOf(err)
	msg := err.Error()
	if tn != nil && tn.Error != "" {
		kind, msg = tn.ErrorKind, tn.Error
	}
	switch {
	case limitKind(kind):
		return fmt.Sprintf("hit a limit (%s): %s", kind, firstLine(msg, 200))
	case kind == runtime.KindBuild:
		return "does not build: " + firstLine(msg, 600)
	case strings.Contains(msg, "panic:"):
		return "crashed: " + firstLine(msg, 200)
	}
	return ""
}

// runSolo runs the solo plan on one input object.
func (c *compiler) runSolo(ctx context.Context, q *plans.Plan, in map[string]any) (any, *trace.Node, error) {
	res, err := c.cfg.Runner.Run(ctx, q, in)
	var tn *trace.Node
	if res != nil && res.Trace != nil && len(res.Trace.Nodes) > 0 {
		tn = res.Trace.Nodes[0]
	}
	if err != nil {
		return nil, tn, err
	}
	return res.Output, tn, nil
}

// traceProbe is probe 1 for node id. It also returns one input the node was given.
func (c *compiler) traceProbe(ctx context.Context, inc, cand *plans.Plan, id string, train Scores) (ProbeResult, map[string]any, string, error) {
	pr := ProbeResult{Node: id, Kind: ProbeTrace}
	n := nodeByID(cand, id)
	labels := map[string]runtime.Item{}
	for _, it := range c.cfg.Train {
		labels[it.ID] = it
	}
	type pair struct {
		in       map[string]any
		it       runtime.Item
		incRight bool
		// want is what the node's consumer got from the node it replaces on this item, when
		// the incumbent was right (see consumerRefs).
		want    any
		hasWant bool
	}
	var pairs []pair
	seenIn := map[string]bool{}
	for i, o := range train.Results {
		it, ok := labels[o.ID]
		if !ok || i >= len(train.Traces) {
			continue
		}
		in := probeInputs(inc, cand, n, it, train.Traces[i])
		if in == nil {
			continue
		}
		key, _ := json.Marshal(in)
		if seenIn[string(key)] {
			continue
		}
		seenIn[string(key)] = true
		pr := pair{in: in, it: it, incRight: o.Correct}
		if !isPlanOutput(cand, id) && o.Correct {
			pr.want, pr.hasWant = expectation(inc, cand, id, train.Traces[i])
		}
		pairs = append(pairs, pr)
	}
	if len(pairs) == 0 {
		pr.Failure = "skipped: no training trace gives this node's inputs"
		return pr, nil, "", nil
	}
	q, err := soloPlan(cand, id, pairs[0].in)
	if err != nil {
		pr.Failure = "skipped: " + err.Error()
		return pr, pairs[0].in, "", nil
	}
	judge := isPlanOutput(cand, id)
	var wrong []string
	for _, p := range pairs {
		if err := ctx.Err(); err != nil {
			return pr, nil, "", err
		}
		pr.Run++
		out, tn, err := c.runSolo(ctx, q, p.in)
		if ctx.Err() != nil {
			return pr, nil, "", ctx.Err()
		}
		if err != nil {
			if why := soloFailure(err, tn); why != "" {
				pr.Failure = fmt.Sprintf("training item %s: %s", p.it.ID, why)
				return pr, pairs[0].in, fmt.Sprintf("code node %s %s on the inputs of training item %s", id, why, p.it.ID), nil
			}
			if judge && p.incRight {
				pr.Failure = fmt.Sprintf("training item %s: fails (%s) where the incumbent was right", p.it.ID, firstLine(err.Error(), 200))
				return pr, pairs[0].in, fmt.Sprintf("code node %s fails its trace probes: an error on training item %s, which the incumbent got right: %s", id, p.it.ID, firstLine(err.Error(), 200)), nil
			}
			continue
		}
		if p.hasWant {
			_, cr, _ := consumerRefs(inc, cand, id)
			got, ok := field(out, cr.Field)
			if !ok || !c.cfg.Metric.Score(got, p.want) {
				pr.Failure = fmt.Sprintf("training item %s: gives its consumer %s where the node it replaces gave %s (and the incumbent was right)", p.it.ID, show(got), show(p.want))
				return pr, pairs[0].in, fmt.Sprintf("code node %s fails its trace probes: on training item %s it gives its consumer %s, where the node it replaces gave %s and the incumbent was right", id, p.it.ID, show(got), show(p.want)), nil
			}
		}
		if judge && !c.cfg.Metric.Score(out, p.it.Label) {
			if p.incRight {
				pr.Failure = fmt.Sprintf("training item %s: returned %s, expected %s", p.it.ID, show(out), show(p.it.Label))
				return pr, pairs[0].in, fmt.Sprintf("code node %s fails its trace probes: it returns %s on training item %s, expected %s (which the incumbent got right)", id, show(out), p.it.ID, show(p.it.Label)), nil
			}
			wrong = append(wrong, p.it.ID)
			continue
		}
		pr.Passed++
	}
	// Deterministic code that is wrong on a training item is wrong or the label is; labels are
	// rarely wrong (BBH) or wrong on a few percent (GSM-Hard), so more than 2% of the items is
	// the code.
	if allowed := len(pairs) / 50; len(wrong) > allowed {
		pr.Failure = fmt.Sprintf("wrong on %d of %d training items (%s), more than the %d a noisy label explains", len(wrong), len(pairs), strings.Join(wrong[:min(len(wrong), 5)], ", "), allowed)
		return pr, pairs[0].in, fmt.Sprintf("code node %s fails its trace probes: %s", id, pr.Failure), nil
	}
	return pr, pairs[0].in, "", nil
}

func show(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return firstLine(string(b), 120)
}

// planProbe is probe 2: the whole candidate on the first Probe training items, with up to
// Workers items at once, stopped as soon as a new node fails hard on one of them. It returns the
// reason, a result per fresh node, and an input each node was seen to get.
func (c *compiler) planProbe(ctx context.Context, cand *plans.Plan, fresh map[string]bool) (string, []ProbeResult, map[string][]probeInput, error) {
	probe := c.cfg.Train[:min(c.cfg.Probe, len(c.cfg.Train))]
	// One item first: a node that does not build or never stops is rejected after one call
	// rather than after a batch of them.
	ev, err := c.evalStopping(ctx, cand, probe[:1], fresh)
	if err != nil {
		return "", nil, nil, fmt.Errorf("test code nodes: %w", err)
	}
	if c.codeFailure(ev, fresh) == "" && len(probe) > 1 {
		rest, err := c.evalStopping(ctx, cand, probe[1:], fresh)
		if err != nil {
			return "", nil, nil, fmt.Errorf("test code nodes: %w", err)
		}
		ev.Results = append(ev.Results, rest.Results...)
		ev.Traces = append(ev.Traces, rest.Traces...)
	}
	inBranch := map[string]bool{}
	for id := range fresh {
		if nodeByID(cand, id) == nil {
			inBranch[id] = true
		}
	}
	why := c.judgeCode(ev, fresh, len(probe), routerClassifiers(cand), inBranch)
	ran, right := ranRight(ev, fresh)
	seen := map[string][]probeInput{}
	for i, tr := range ev.Traces {
		if tr == nil {
			continue
		}
		for _, tn := range tr.Nodes {
			if tn != nil && fresh[tn.ID] {
				if m, ok := tn.Input.(map[string]any); ok {
					seen[tn.ID] = append(seen[tn.ID], probeInput{item: ev.Results[i].ID, in: m})
				}
			}
		}
	}
	ids := make([]string, 0, len(fresh))
	for id := range fresh {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	var res []ProbeResult
	for _, id := range ids {
		pr := ProbeResult{Node: id, Kind: ProbePlan, Passed: right[id], Run: ran[id]}
		if why != "" && strings.Contains(why, " "+id+" ") {
			pr.Failure = why
		}
		res = append(res, pr)
	}
	return why, res, seen, nil
}

// evalStopping evaluates cand on items like c.eval, but cancels the items still running or
// queued as soon as a new code node hits a limit, traps or fails to build on one of them: the
// rest would only repeat the cost. The scores returned are those of the items that finished.
func (c *compiler) evalStopping(ctx context.Context, cand *plans.Plan, items []runtime.Item, fresh map[string]bool) (Scores, error) {
	sub, cancel := context.WithCancel(ctx)
	defer cancel()
	var ev Scores
	stopped := false
	run := func(ctx context.Context, in map[string]any) (*runtime.RunResult, error) {
		return c.cfg.Runner.Run(ctx, cand, in)
	}
	_, err := runtime.EvalFunc(sub, cand.Metadata.Name, run, items, c.cfg.Metric, runtime.EvalOptions{
		Concurrency: c.cfg.Workers,
		StopKinds:   fatalKinds,
		OnResult: func(res runtime.ItemResult, tr *trace.Run) {
			if stopped && res.ErrorKind == runtime.KindCanceled {
				return // cut short by the stop: not a result
			}
			ev.Results = append(ev.Results, res)
			ev.Traces = append(ev.Traces, tr)
			if hardFailure(res, tr, fresh) != "" {
				stopped = true
				cancel()
			}
			if c.cfg.Tick != nil {
				c.cfg.Tick()
			}
		},
	})
	_, tokens, _ := ev.Cost()
	c.st.StudentCalls += ev.Requests()
	c.st.StudentTokens += tokens
	if ctx.Err() != nil {
		return ev, ctx.Err()
	}
	if err != nil && !stopped {
		return ev, err
	}
	return ev, nil
}

// ranRight counts, per fresh node, the probe items where it ran and those the plan got right.
func ranRight(ev Scores, fresh map[string]bool) (ran, right map[string]int) {
	ran, right = map[string]int{}, map[string]int{}
	for i, o := range ev.Results {
		if i >= len(ev.Traces) || ev.Traces[i] == nil {
			continue
		}
		hit := map[string]bool{}
		var visit func([]*trace.Node)
		visit = func(nodes []*trace.Node) {
			for _, tn := range nodes {
				if tn == nil {
					continue
				}
				if fresh[tn.ID] {
					hit[tn.ID] = true
				}
				if tn.Consensus != nil {
					for _, s := range tn.Consensus.Samples {
						visit(s.Nodes)
					}
				}
				if tn.Route != nil && tn.Route.Run != nil {
					visit(tn.Route.Run.Nodes)
				}
			}
		}
		visit(ev.Traces[i].Nodes)
		for id := range hit {
			ran[id]++
			if o.Correct {
				right[id]++
			}
		}
	}
	return ran, right
}

// edgeInputs derives the generated probe inputs from one observed input object: every field
// is replaced at once by its empty, boundary, very large or unicode variant.
func edgeInputs(seen map[string]any) []struct {
	name string
	in   map[string]any
} {
	variants := []string{"empty", "boundary-low", "boundary-high", "very large", "unicode"}
	out := make([]struct {
		name string
		in   map[string]any
	}, 0, len(variants))
	for _, v := range variants {
		in := make(map[string]any, len(seen))
		for k, x := range seen {
			in[k] = edgeValue(x, v)
		}
		out = append(out, struct {
			name string
			in   map[string]any
		}{v, in})
	}
	return out
}

// edgeLarge is the size of the "very large" string variant: large enough to expose quadratic
// or unbounded work, small enough to stay far below the sandbox's input limit.
const edgeLarge = 64 << 10

func edgeValue(x any, variant string) any {
	switch v := x.(type) {
	case string:
		switch variant {
		case "empty":
			return ""
		case "boundary-low":
			return " "
		case "boundary-high":
			if r := []rune(v); len(r) > 0 {
				return string(r[:1])
			}
			return "0"
		case "very large":
			if v == "" {
				v = "x"
			}
			return strings.Repeat(v+" ", edgeLarge/(len(v)+1)+1)[:edgeLarge]
		case "unicode":
			return "Ünïcødé ✓ 日本語 🙂\u200b\u202e " + v
		}
	case json.Number, float64, int, int64:
		switch variant {
		case "empty":
			return json.Number("0")
		case "boundary-low":
			return json.Number("-1")
		case "boundary-high":
			return json.Number("2147483648")
		case "very large":
			return json.Number("1e18")
		case "unicode":
			return x
		}
	case []any:
		switch variant {
		case "empty":
			return []any{}
		case "boundary-low", "boundary-high":
			if len(v) > 0 {
				return v[:1]
			}
			return v
		case "very large":
			if len(v) == 0 {
				return v
			}
			big := make([]any, 0, 10000)
			for len(big) < 10000 {
				big = append(big, v...)
			}
			return big[:10000]
		case "unicode":
			return append([]any{"Ünïcødé 🙂"}, v...)
		}
	case map[string]any:
		if variant == "empty" {
			return map[string]any{}
		}
	}
	return x
}

// edgeProbe is probe 3 for node id, from one input it was seen to get.
func (c *compiler) edgeProbe(ctx context.Context, cand *plans.Plan, id string, seen map[string]any) (ProbeResult, string, error) {
	pr := ProbeResult{Node: id, Kind: ProbeEdge}
	if seen == nil {
		pr.Failure = "skipped: the node was never seen to run, so no input to vary"
		return pr, "", nil
	}
	q, err := soloPlan(cand, id, seen)
	if err != nil {
		pr.Failure = "skipped: " + err.Error()
		return pr, "", nil
	}
	for _, e := range edgeInputs(seen) {
		if err := ctx.Err(); err != nil {
			return pr, "", err
		}
		pr.Run++
		_, tn, err := c.runSolo(ctx, q, e.in)
		if ctx.Err() != nil {
			return pr, "", ctx.Err()
		}
		if err != nil {
			if why := soloFailure(err, tn); why != "" {
				pr.Failure = e.name + " input: " + why
				return pr, fmt.Sprintf("code node %s fails its edge probes: on a generated %s input it %s", id, e.name, why), nil
			}
		}
		pr.Passed++
	}
	return pr, "", nil
}

// probeInput is an input object a node got on one training item.
type probeInput struct {
	item string
	in   map[string]any
}

// reference returns the vetted catalogue module with node n's exact interface (input field
// names, output fields and types), other than n's own source, or false.
func reference(n *plans.Node) (library.Module, bool) {
	for _, m := range append(library.Modules(), library.Solvers()...) {
		if m.Source == n.Code.SourceText() || len(m.Inputs) != len(n.Code.Inputs) || len(m.Outputs) != len(n.Code.Outputs) {
			continue
		}
		same := true
		for k := range m.Inputs {
			if _, ok := n.Code.Inputs[k]; !ok {
				same = false
			}
		}
		for k, t := range m.Outputs {
			if n.Code.Outputs[k] != t {
				same = false
			}
		}
		if same {
			return m, true
		}
	}
	return library.Module{}, false
}

// referenceProbe settles blame with a vetted module. When the new node is the plan's output
// and the catalogue has a module with its interface, both run on every input the plan probe gave
// the node (one item at a time). On an item where the module returns the label and the node
// does not, the upstream nodes gave the node what it needed, so the node is wrong. A module for
// some other kind of question never returns the labels, so it never accuses. It stops at the
// first limit hit.
func (c *compiler) referenceProbe(ctx context.Context, cand *plans.Plan, id string, inputs []probeInput) (ProbeResult, string, error) {
	pr := ProbeResult{Node: id, Kind: ProbeReference}
	n := nodeByID(cand, id)
	if n == nil || n.Code == nil || len(inputs) == 0 || !isPlanOutput(cand, id) {
		return pr, "", nil
	}
	m, ok := reference(n)
	if !ok {
		return pr, "", nil
	}
	labels := map[string]any{}
	for _, it := range c.cfg.Train {
		labels[it.ID] = it.Label
	}
	q, err := soloPlan(cand, id, inputs[0].in)
	if err != nil {
		pr.Failure = "skipped: " + err.Error()
		return pr, "", nil
	}
	ref, err := clonePlan(q)
	if err != nil {
		return pr, "", err
	}
	rc := *ref.Nodes[0].Code
	rc.Source, rc.Path, rc.Digest = m.Source, "", ""
	ref.Nodes[0].Code = &rc
	for _, p := range inputs {
		if err := ctx.Err(); err != nil {
			return pr, "", err
		}
		label, ok := labels[p.item]
		if !ok {
			continue
		}
		want, _, rerr := c.runSolo(ctx, ref, p.in)
		if rerr != nil || !c.cfg.Metric.Score(want, label) {
			continue // the module is no oracle on this item
		}
		pr.Run++
		got, tn, err := c.runSolo(ctx, q, p.in)
		if ctx.Err() != nil {
			return pr, "", ctx.Err()
		}
		if err != nil {
			if why := soloFailure(err, tn); why != "" {
				pr.Failure = fmt.Sprintf("training item %s: %s", p.item, why)
				return pr, fmt.Sprintf("code node %s %s on the inputs of training item %s", id, why, p.item), nil
			}
		}
		if err != nil || !c.cfg.Metric.Score(got, label) {
			g := show(got)
			if err != nil {
				g = "an error (" + firstLine(err.Error(), 120) + ")"
			}
			pr.Failure = fmt.Sprintf("training item %s: returned %s; the vetted %s returns the label %s on the same input", p.item, g, m.Name, show(label))
			return pr, fmt.Sprintf("code node %s fails its reference probe: on the inputs of training item %s it returns %s, where the vetted module %s returns the label %s", id, p.item, g, m.Name, show(label)), nil
		}
		pr.Passed++
	}
	return pr, "", nil
}

// consumerRefs finds a node that reads node id in both plans and returns its reference to id in
// each: the incumbent's node id is what the candidate's replaces, for that consumer.
func consumerRefs(inc, cand *plans.Plan, id string) (incRef, candRef plans.Ref, ok bool) {
	refsTo := func(p *plans.Plan, consumer string) (plans.Ref, bool) {
		n := nodeByID(p, consumer)
		if n == nil {
			return plans.Ref{}, false
		}
		var refs []plans.Ref
		switch {
		case n.Code != nil:
			names := make([]string, 0, len(n.Code.Inputs))
			for k := range n.Code.Inputs {
				names = append(names, k)
			}
			sort.Strings(names)
			for _, k := range names {
				if r, err := plans.ParseRef(n.Code.Inputs[k]); err == nil {
					refs = append(refs, r)
				}
			}
		case n.LLM != nil:
			refs, _ = plans.TemplateRefs(n.LLM.Prompt)
		}
		for _, r := range refs {
			if r.Node == id {
				return r, true
			}
		}
		return plans.Ref{}, false
	}
	for _, n := range cand.Nodes {
		if n.ID == id {
			continue
		}
		cr, ok1 := refsTo(cand, n.ID)
		ir, ok2 := refsTo(inc, n.ID)
		if ok1 && ok2 {
			return ir, cr, true
		}
	}
	return plans.Ref{}, plans.Ref{}, false
}

// expectation is what the node that id replaces gave its consumer on one incumbent run (the
// caller only asks for runs the incumbent got right): the consumer's expectation of the new
// node. The incumbent must have a node id, the node the candidate's replaces.
func expectation(inc, cand *plans.Plan, id string, tr *trace.Run) (any, bool) {
	if tr == nil || nodeByID(inc, id) == nil {
		return nil, false
	}
	ir, _, ok := consumerRefs(inc, cand, id)
	if !ok {
		return nil, false
	}
	for _, tn := range tr.Nodes {
		if tn != nil && tn.ID == id && tn.Error == "" {
			return field(tn.Value, ir.Field)
		}
	}
	return nil, false
}

func field(v any, name string) (any, bool) {
	if name == "" {
		return v, true
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, false
	}
	x, ok := m[name]
	return x, ok
}
