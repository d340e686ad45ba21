package runtime

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"time"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/trace"
	"github.com/sgde-project/sgde/sandbox"
)

// Program is a plan prepared for running: its graph analysed, templates checked, code sources
// read and digested. Preparing once and running many times is what an eval does. The plan must
// not be modified while a Program made from it is in use.
type Program struct {
	r      *Runner
	plan   *plans.Plan
	nodes  []*pnode
	index  map[string]int
	units  []int // top-level nodes (not consensus members) in topological order
	output plans.Ref
}

// pnode is a prepared node.
type pnode struct {
	n          *plans.Node
	idx        int
	timeout    time.Duration
	deps       []int // top-level nodes this top-level node waits for
	dependents []int
	owner      int // index of the consensus node this node is a member of, or -1

	// llm
	sampling llm.Sampling
	// code
	src        []byte
	srcDigest  string
	codeInputs []codeInput
	limits     sandbox.Limits
	// consensus
	members []*pnode // in dependency order
	over    plans.Ref
	// router
	on       plans.Ref
	branches map[string]*branchProgram
}

// branchProgram is one prepared branch of a router.
type branchProgram struct {
	prog   *Program
	inputs []codeInput // sub-plan input <- reference in the enclosing plan
}

type codeInput struct {
	name string
	ref  plans.Ref
}

// Prepare analyses p for running. It reports plans that cannot run (cycles, references to
// unknown nodes or to consensus members from outside, code whose digest does not match) as a
// *NodeError of kind plan_error. It does not build code: that happens on first use.
func (r *Runner) Prepare(p *plans.Plan) (*Program, error) {
	// Plans built in memory (compiler candidates) have not been through plans.Load: validate
	// here so that no unchecked plan runs.
	if err := p.Validate(); err != nil {
		return nil, nodeErr("", KindPlan, err)
	}
	pg := &Program{r: r, plan: p, index: make(map[string]int, len(p.Nodes))}
	for i := range p.Nodes {
		n := &p.Nodes[i]
		if _, dup := pg.index[n.ID]; dup {
			return nil, nodeErr(n.ID, KindPlan, errors.New("duplicate node id"))
		}
		pg.index[n.ID] = i
		pg.nodes = append(pg.nodes, &pnode{n: n, idx: i, owner: -1})
	}
	for _, pn := range pg.nodes {
		if err := pg.prepareNode(pn); err != nil {
			return nil, err
		}
	}
	if err := pg.link(); err != nil {
		return nil, err
	}
	out, err := plans.ParseRef(p.Output)
	if err != nil {
		return nil, nodeErr("", KindPlan, fmt.Errorf("output: %w", err))
	}
	pg.output = out
	return pg, nil
}

func (pg *Program) prepareNode(pn *pnode) error {
	n := pn.n
	if n.Timeout != "" {
		d, err := time.ParseDuration(n.Timeout)
		if err != nil || d <= 0 {
			return nodeErr(n.ID, KindPlan, fmt.Errorf("bad timeout %q", n.Timeout))
		}
		pn.timeout = d
	}
	switch n.Substrate {
	case plans.SubstrateLLM:
		if n.LLM == nil {
			return nodeErr(n.ID, KindPlan, errors.New("llm node without llm settings"))
		}
		pn.sampling = nodeSampling(pg.plan, n)
	case plans.SubstrateCode:
		c := n.Code
		if c == nil {
			return nodeErr(n.ID, KindPlan, errors.New("code node without code settings"))
		}
		src, err := readSource(c)
		if err != nil {
			return nodeErr(n.ID, KindPlan, err)
		}
		sum := sha256.Sum256(src)
		pn.src, pn.srcDigest = src, "sha256:"+hex.EncodeToString(sum[:])
		if c.Digest != "" && c.Digest != pn.srcDigest {
			return nodeErr(n.ID, KindPlan, fmt.Errorf("source digest %s does not match the declared %s", pn.srcDigest, c.Digest))
		}
		for name, ref := range c.Inputs {
			r, err := plans.ParseRef(ref)
			if err != nil {
				return nodeErr(n.ID, KindPlan, fmt.Errorf("input %q: %w", name, err))
			}
			pn.codeInputs = append(pn.codeInputs, codeInput{name, r})
		}
		sort.Slice(pn.codeInputs, func(i, j int) bool { return pn.codeInputs[i].name < pn.codeInputs[j].name })
		lim, err := nodeLimits(pg.plan, n)
		if err != nil {
			return nodeErr(n.ID, KindPlan, err)
		}
		pn.limits = lim
	case plans.SubstrateConsensus:
		c := n.Consensus
		if c == nil || c.N <= 0 || len(c.Members) == 0 {
			return nodeErr(n.ID, KindPlan, errors.New("consensus node needs members and n > 0"))
		}
		over, err := plans.ParseRef(c.Over)
		if err != nil || over.IsInput() {
			return nodeErr(n.ID, KindPlan, fmt.Errorf("over %q must reference a member", c.Over))
		}
		pn.over = over
	case plans.SubstrateRouter:
		rt := n.Router
		if rt == nil {
			return nodeErr(n.ID, KindPlan, errors.New("router node without router settings"))
		}
		on, err := plans.ParseRef(rt.On)
		if err != nil {
			return nodeErr(n.ID, KindPlan, fmt.Errorf("router.on: %w", err))
		}
		pn.on, pn.branches = on, map[string]*branchProgram{}
		for i := range rt.Branches {
			b := &rt.Branches[i]
			sub := b.SubPlan()
			if sub == nil {
				return nodeErr(n.ID, KindPlan, fmt.Errorf("branch %q has no plan", b.Name))
			}
			prog, err := pg.r.Prepare(sub)
			if err != nil {
				return nodeErr(n.ID, KindPlan, fmt.Errorf("branch %q: %w", b.Name, err))
			}
			bp := &branchProgram{prog: prog}
			for name, ref := range b.Inputs {
				r, err := plans.ParseRef(ref)
				if err != nil {
					return nodeErr(n.ID, KindPlan, fmt.Errorf("branch %q input %q: %w", b.Name, name, err))
				}
				bp.inputs = append(bp.inputs, codeInput{name, r})
			}
			sort.Slice(bp.inputs, func(i, j int) bool { return bp.inputs[i].name < bp.inputs[j].name })
			pn.branches[b.Name] = bp
		}
	default:
		return nodeErr(n.ID, KindPlan, fmt.Errorf("unknown substrate %q", n.Substrate))
	}
	return nil
}

// link assigns members to their consensus node, computes dependencies and orders the graph,
// from the plan's own graph functions (the plan has been validated: references resolve, there
// are no cycles, members belong to one consensus node and are read only inside it).
func (pg *Program) link() error {
	p := pg.plan
	for _, pn := range pg.nodes {
		if c := p.ConsensusOf(pn.n.ID); c != "" {
			pn.owner = pg.index[c]
		}
	}
	// unit maps a node to the top-level node that schedules it.
	unit := func(i int) int {
		if o := pg.nodes[i].owner; o >= 0 {
			return o
		}
		return i
	}
	for _, pn := range pg.nodes {
		top := pg.nodes[unit(pn.idx)]
		for _, dep := range p.Dependencies(pn.n.ID) {
			d, ok := pg.index[dep]
			if !ok {
				return nodeErr(pn.n.ID, KindPlan, fmt.Errorf("no node %q", dep))
			}
			du := unit(d)
			if du == top.idx || contains(top.deps, du) {
				continue
			}
			top.deps = append(top.deps, du)
			pg.nodes[du].dependents = append(pg.nodes[du].dependents, top.idx)
		}
	}
	for _, id := range p.Order() {
		pg.units = append(pg.units, pg.index[id])
	}
	top := 0
	for _, pn := range pg.nodes {
		if pn.owner < 0 {
			top++
		}
	}
	if len(pg.units) != top {
		return nodeErr("", KindPlan, errors.New("the plan's nodes form a cycle"))
	}
	// Each consensus node's members, ordered by their dependencies on each other.
	for _, pn := range pg.nodes {
		if pn.n.Substrate != plans.SubstrateConsensus {
			continue
		}
		members := pn.n.Consensus.Members
		done := map[string]bool{}
		for len(pn.members) < len(members) {
			progress := false
			for _, m := range members {
				if done[m] {
					continue
				}
				ready := true
				for _, d := range p.Dependencies(m) {
					if p.ConsensusOf(d) == pn.n.ID && !done[d] {
						ready = false
					}
				}
				if ready {
					done[m], progress = true, true
					pn.members = append(pn.members, pg.nodes[pg.index[m]])
				}
			}
			if !progress {
				return nodeErr(pn.n.ID, KindPlan, errors.New("members form a cycle"))
			}
		}
	}
	return nil
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// nodeSampling is the node's effective sampling (plans.EffectiveSampling) for the client.
func nodeSampling(p *plans.Plan, n *plans.Node) llm.Sampling {
	s := p.EffectiveSampling(n)
	return llm.Sampling{Temperature: s.Temperature, TopP: s.TopP, MaxTokens: s.MaxTokens, Seed: s.Seed}
}

// nodeLimits is the node's effective limits (plans.EffectiveLimits: node over plan defaults
// over the package defaults) for the sandbox. Every field is set, so the engine's own handling
// of zero fields never applies to a plan.
func nodeLimits(p *plans.Plan, n *plans.Node) (sandbox.Limits, error) {
	l := p.EffectiveLimits(n)
	t, err := time.ParseDuration(l.Timeout)
	if err != nil || t <= 0 {
		return sandbox.Limits{}, fmt.Errorf("bad limits.timeout %q", l.Timeout)
	}
	return sandbox.Limits{Fuel: *l.Fuel, MemoryMiB: *l.MemoryMiB, MaxOutputBytes: *l.MaxOutputBytes, Timeout: t}, nil
}

// Plan returns the plan the program runs.
func (pg *Program) Plan() *plans.Plan { return pg.plan }

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// Run executes the program once. Independent nodes run concurrently; the first failure cancels
// the rest and is returned as a *NodeError. The result (with its trace) is returned even when
// the run fails. Run returns only after every goroutine it started has finished.
func (pg *Program) Run(ctx context.Context, inputs map[string]any) (*RunResult, error) {
	return pg.run(ctx, inputs, nil)
}

// RunForced is Run with the top-level routers named in force running the given branch
// whatever their classifier says (the classifier still runs; the trace marks the route
// forced). It is how an evaluation asks whether another branch would have got an item right.
// A name of force that is not a branch of its router fails the run with a plan_error.
func (pg *Program) RunForced(ctx context.Context, inputs map[string]any, force map[string]string) (*RunResult, error) {
	return pg.run(ctx, inputs, force)
}

func (pg *Program) run(ctx context.Context, inputs map[string]any, force map[string]string) (*RunResult, error) {
	start := time.Now()
	tr := &trace.Run{Plan: pg.plan.Metadata.Name, Start: start.UTC(), Inputs: inputs}
	res := &RunResult{Trace: tr}
	finish := func(err error) (*RunResult, error) {
		tr.LatencyMS = ms(time.Since(start))
		for _, n := range tr.Nodes {
			addTotals(tr, n)
		}
		if err != nil {
			var ne *NodeError
			if errors.As(err, &ne) {
				tr.ErrorNode = ne.NodeID
			}
			tr.Error, tr.ErrorKind = err.Error(), KindOf(err)
			return res, err
		}
		return res, nil
	}
	if err := checkInputs(pg.plan.Inputs, inputs); err != nil {
		return finish(err)
	}
	st := &runState{pg: pg, inputs: inputs, values: make([]any, len(pg.nodes)), force: force}

	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type done struct {
		idx int
		val any
		tn  *trace.Node
		err error
	}
	ch := make(chan done, len(pg.units))
	traces := make([]*trace.Node, len(pg.nodes))
	pending := make([]int, len(pg.nodes))
	running := 0
	launch := func(i int) {
		running++
		go func() {
			v, tn, err := pg.execTop(ctx, st, pg.nodes[i])
			ch <- done{i, v, tn, err}
		}()
	}
	for _, i := range pg.units {
		pending[i] = len(pg.nodes[i].deps)
		if pending[i] == 0 {
			launch(i)
		}
	}
	var firstErr error
	for running > 0 {
		d := <-ch
		running--
		traces[d.idx] = d.tn
		if d.err != nil {
			if firstErr == nil || (KindOf(firstErr) == KindCanceled && KindOf(d.err) != KindCanceled) {
				firstErr = d.err
			}
			cancel()
			continue
		}
		st.values[d.idx] = d.val
		if firstErr != nil {
			continue
		}
		for _, j := range pg.nodes[d.idx].dependents {
			if pending[j]--; pending[j] == 0 {
				launch(j)
			}
		}
	}
	for _, i := range pg.units {
		if traces[i] != nil {
			tr.Nodes = append(tr.Nodes, traces[i])
		}
	}
	if firstErr != nil {
		return finish(firstErr)
	}
	out, err := st.lookup("", nil)(pg.output)
	if err != nil {
		return finish(nodeErr("", KindMissingField, fmt.Errorf("output %s: %w", pg.output, err)))
	}
	tr.Output, res.Output = out, out
	return finish(nil)
}

func addTotals(tr *trace.Run, n *trace.Node) {
	tr.Calls += n.Calls
	tr.CacheHits += n.CacheHits
	if n.Tokens != nil {
		tr.Tokens = tr.Tokens.Add(*n.Tokens)
	}
	if n.Consensus != nil {
		for _, s := range n.Consensus.Samples {
			for _, m := range s.Nodes {
				addTotals(tr, m)
			}
		}
	}
	if n.Route != nil && n.Route.Run != nil {
		// The branch's run has its totals already.
		sub := n.Route.Run
		tr.Calls += sub.Calls
		tr.CacheHits += sub.CacheHits
		tr.Tokens = tr.Tokens.Add(sub.Tokens)
	}
}

// runState holds one run's values. Each top-level node's value is written once, by the
// coordinator, before any node that reads it starts, so readers need no lock.
type runState struct {
	pg     *Program
	inputs map[string]any
	values []any
	// force maps a top-level router to the branch it must run (RunForced); nil for a plain run.
	force map[string]string
}

// lookup resolves references for node id; local holds the values of consensus members within
// one sample and shadows nothing else.
func (st *runState) lookup(id string, local map[string]any) func(plans.Ref) (any, error) {
	return func(ref plans.Ref) (any, error) {
		if ref.IsInput() {
			v, ok := st.inputs[ref.Input]
			if !ok {
				return nil, nodeErr(id, KindInput, fmt.Errorf("missing input %q", ref.Input))
			}
			return v, nil
		}
		v, ok := local[ref.Node]
		if !ok {
			i, known := st.pg.index[ref.Node]
			if !known {
				return nil, nodeErr(id, KindPlan, fmt.Errorf("no node %q", ref.Node))
			}
			v = st.values[i]
		}
		if ref.Field == "" {
			return v, nil
		}
		f, err := field(v, ref.Field)
		if err != nil {
			return nil, nodeErr(id, KindMissingField, fmt.Errorf("%s: %w", ref, err))
		}
		return f, nil
	}
}

// Warm builds and loads every code node now instead of on first use, so that a cold build
// (tens of seconds) is neither counted in the first runs' latency nor discovered item by item.
// It returns the first build failure as a *NodeError of kind build_error.
func (pg *Program) Warm(ctx context.Context) error {
	for _, pn := range pg.nodes {
		for _, name := range sortedBranches(pn) {
			if err := pn.branches[name].prog.Warm(ctx); err != nil {
				return err
			}
		}
		if pn.n.Substrate != plans.SubstrateCode {
			continue
		}
		if _, err := pg.r.module(ctx, pn.n.ID, pn.src, pn.srcDigest, pn.limits); err != nil {
			if isContextErr(err) {
				return err
			}
			return nodeErr(pn.n.ID, KindBuild, err)
		}
	}
	return nil
}

func sortedBranches(pn *pnode) []string {
	names := make([]string, 0, len(pn.branches))
	for name := range pn.branches {
		names = append(names, name)
	}
	sort.Strings(names)
	return names
}
