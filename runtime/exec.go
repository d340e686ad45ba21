package runtime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/trace"
	"github.com/sgde-project/sgde/sandbox"
)

// perturbation is what one consensus sample changes in its llm members.
type perturbation struct {
	variant string
	temp    *float64
	seed    *int64
}

func (pg *Program) execTop(ctx context.Context, st *runState, pn *pnode) (any, *trace.Node, error) {
	if pn.n.Substrate == plans.SubstrateConsensus {
		return pg.execConsensus(ctx, st, pn)
	}
	if pn.n.Substrate == plans.SubstrateRouter {
		return pg.execRouter(ctx, st, pn)
	}
	return pg.execNode(ctx, pn, st.lookup(pn.n.ID, nil), nil, 0)
}

// execNode runs an llm or code node with its timeout and retry policy.
func (pg *Program) execNode(ctx context.Context, pn *pnode, lookup func(plans.Ref) (any, error), pert *perturbation, sample int) (any, *trace.Node, error) {
	id := pn.n.ID
	start := time.Now()
	tn := &trace.Node{ID: id, Substrate: string(pn.n.Substrate), Start: start.UTC()}
	var v any
	var err error
	for attempt := 0; attempt <= pn.n.Retries; attempt++ {
		if attempt > 0 {
			tn.PriorErrors = append(tn.PriorErrors, errText(err))
		}
		tn.Attempts = attempt + 1
		actx, cancel := ctx, context.CancelFunc(func() {})
		if pn.timeout > 0 {
			actx, cancel = context.WithTimeoutCause(ctx, pn.timeout, errNodeTimeout)
		}
		if pn.n.Substrate == plans.SubstrateLLM {
			v, err = pg.execLLM(actx, pn, lookup, pert, sample, attempt, tn)
		} else {
			v, err = pg.execCode(actx, pn, lookup, tn)
		}
		timedOut := actx.Err() == context.DeadlineExceeded
		cancel()
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			err = nodeErr(id, KindCanceled, ctx.Err())
			break
		}
		if timedOut && (isContextErr(err) || KindOf(err) == KindInternal) {
			err = nodeErr(id, KindTimeout, fmt.Errorf("node timeout %s exceeded", pn.timeout))
		}
		if !retryable(KindOf(err)) {
			break
		}
		if tn.Code != nil && KindOf(err) == KindTimeout {
			// The code ran (the build was not what took the time): it is deterministic, so a
			// retry would loop again and multiply the cost of an infinite loop.
			break
		}
	}
	tn.LatencyMS = ms(time.Since(start))
	if err != nil {
		tn.Error, tn.ErrorKind = errText(err), KindOf(err)
		return nil, tn, err
	}
	tn.Value = v
	return v, tn, nil
}

// errText is the message of err without the node prefix (the trace already names the node).
func errText(err error) string {
	var ne *NodeError
	if errors.As(err, &ne) {
		return ne.Err.Error()
	}
	return err.Error()
}

func (pg *Program) execLLM(ctx context.Context, pn *pnode, lookup func(plans.Ref) (any, error), pert *perturbation, sample, attempt int, tn *trace.Node) (any, error) {
	id, l := pn.n.ID, pn.n.LLM
	msgs := make([]llm.Message, 0, 2+2*len(l.Examples))
	if l.System != "" {
		s, err := plans.Render(l.System, lookup)
		if err != nil {
			return nil, renderErr(id, err)
		}
		msgs = append(msgs, llm.Message{Role: llm.RoleSystem, Content: s})
	}
	for _, ex := range l.Examples {
		u, err := plans.Render(ex.User, lookup)
		if err != nil {
			return nil, renderErr(id, err)
		}
		a, err := plans.Render(ex.Assistant, lookup)
		if err != nil {
			return nil, renderErr(id, err)
		}
		msgs = append(msgs, llm.Message{Role: llm.RoleUser, Content: u}, llm.Message{Role: llm.RoleAssistant, Content: a})
	}
	prompt, err := plans.Render(l.Prompt, lookup)
	if err != nil {
		return nil, renderErr(id, err)
	}
	sampling := pn.sampling
	if pert != nil {
		if pert.variant != "" {
			prompt += "\n\n" + pert.variant
		}
		if pert.temp != nil {
			sampling.Temperature = pert.temp
		}
		if pert.seed != nil {
			sampling.Seed = pert.seed
		}
	}
	msgs = append(msgs, llm.Message{Role: llm.RoleUser, Content: prompt})
	req := llm.Request{Messages: msgs, Sampling: sampling}
	if l.Parser.Type == plans.ParserJSON && l.Parser.Schema != nil {
		req.Schema = l.Parser.Schema
	}
	tn.Prompt = tn.Prompt[:0]
	for _, m := range msgs {
		tn.Prompt = append(tn.Prompt, trace.Message{Role: m.Role, Content: m.Content})
	}
	resp, cached, err := pg.r.complete(ctx, req, sample, attempt)
	tn.Calls += resp.Attempts
	tn.Cached = cached
	if cached {
		tn.CacheHits++
	}
	if err == nil {
		tn.Source = llm.SourceOf(resp.Fingerprint)
	}
	if resp.Usage.TotalTokens > 0 || resp.Usage.PromptTokens > 0 {
		t := trace.Tokens{Prompt: resp.Usage.PromptTokens, Completion: resp.Usage.CompletionTokens, Total: resp.Usage.TotalTokens}
		if tn.Tokens != nil {
			t = t.Add(*tn.Tokens)
		}
		tn.Tokens = &t
	}
	if err != nil {
		return nil, studentErr(id, err)
	}
	raw := resp.Text
	tn.Raw = &raw
	v, err := plans.ParseOutput(l.Parser, raw)
	if err != nil {
		tn.ParseError = err.Error()
		return nil, nodeErr(id, KindParse, err)
	}
	tn.ParseError = ""
	return v, nil
}

func renderErr(id string, err error) error {
	var ne *NodeError
	if errors.As(err, &ne) {
		return nodeErr(id, ne.Kind, err)
	}
	return nodeErr(id, KindPlan, err)
}

func studentErr(id string, err error) error {
	switch {
	case isContextErr(err):
		return err // the caller decides between timeout and cancellation
	case errors.Is(err, cache.ErrMiss):
		return nodeErr(id, KindCacheMiss, err)
	case errors.Is(err, cache.ErrCorrupt):
		return nodeErr(id, KindCacheCorrupt, err)
	case errors.Is(err, llm.ErrRejected):
		return nodeErr(id, KindStudentRejected, err)
	case errors.Is(err, llm.ErrBadResponse):
		return nodeErr(id, KindStudentBadResponse, err)
	}
	return nodeErr(id, KindStudentUnavailable, err)
}

func (pg *Program) execCode(ctx context.Context, pn *pnode, lookup func(plans.Ref) (any, error), tn *trace.Node) (any, error) {
	id, c := pn.n.ID, pn.n.Code
	input := make(map[string]any, len(pn.codeInputs))
	for _, ci := range pn.codeInputs {
		v, err := lookup(ci.ref)
		if err != nil {
			return nil, err
		}
		input[ci.name] = v
	}
	tn.Input = input
	in, err := json.Marshal(input)
	if err != nil {
		return nil, nodeErr(id, KindInternal, fmt.Errorf("encode input: %w", err))
	}
	e, err := pg.r.module(ctx, id, pn.src, pn.srcDigest, pn.limits)
	if err != nil {
		if isContextErr(err) {
			return nil, err
		}
		return nil, nodeErr(id, KindBuild, err)
	}
	if err := pg.r.acquire(ctx); err != nil {
		return nil, err
	}
	res, err := e.mod.Call(ctx, in, pn.limits)
	pg.r.release()
	tn.Code = &trace.CodeUsage{
		Engine:          string(pg.r.opts.Engine.Name()),
		Digest:          e.digest,
		Fuel:            res.Usage.Fuel,
		Metered:         res.Usage.Metered,
		PeakMemoryBytes: uint64(res.Usage.PeakMemoryPages) * 65536,
		WallMS:          ms(res.Usage.Wall),
		Stdout:          string(res.Stdout),
		Stderr:          string(res.Stderr),
	}
	if err != nil {
		kind := sandbox.Kind(err)
		if kind == "" {
			if isContextErr(err) {
				return nil, err
			}
			kind = "error"
		}
		return nil, nodeErr(id, "code_"+kind, err)
	}
	dec := json.NewDecoder(bytes.NewReader(res.Output))
	dec.UseNumber()
	var out map[string]any
	if err := dec.Decode(&out); err != nil || out == nil {
		return nil, nodeErr(id, KindCodeBadOutput, fmt.Errorf("output is not a JSON object: %.200q", res.Output))
	}
	if len(c.Outputs) > 0 {
		for name, t := range c.Outputs {
			v, ok := out[name]
			if !ok {
				return nil, nodeErr(id, KindCodeBadOutput, fmt.Errorf("output has no field %q", name))
			}
			if err := checkType(t, v); err != nil {
				return nil, nodeErr(id, KindCodeBadOutput, fmt.Errorf("output field %q: %w", name, err))
			}
		}
		for name := range out {
			if _, declared := c.Outputs[name]; !declared {
				delete(out, name) // only declared fields flow on
			}
		}
	}
	return out, nil
}

func (pg *Program) execConsensus(ctx context.Context, st *runState, pn *pnode) (any, *trace.Node, error) {
	c := pn.n.Consensus
	start := time.Now()
	tn := &trace.Node{ID: pn.n.ID, Substrate: string(pn.n.Substrate), Start: start.UTC(), Attempts: 1,
		Consensus: &trace.Consensus{N: c.N, Method: string(c.Vote.Method), Over: c.Over}}
	samples := make([]trace.Sample, c.N)
	ballots := make([]ballot, c.N)
	var wg sync.WaitGroup
	for i := 1; i < c.N; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			samples[i], ballots[i] = pg.execSample(ctx, st, pn, i)
		}()
	}
	// Sample 0 runs on this goroutine: one goroutine (and its stack growth) fewer per node.
	samples[0], ballots[0] = pg.execSample(ctx, st, pn, 0)
	wg.Wait()
	tn.Consensus.Samples = samples
	fail := func(err error) (any, *trace.Node, error) {
		tn.LatencyMS = ms(time.Since(start))
		tn.Error, tn.ErrorKind = errText(err), KindOf(err)
		return nil, tn, err
	}
	if ctx.Err() != nil {
		return fail(nodeErr(pn.n.ID, KindCanceled, ctx.Err()))
	}
	win, dist, err := vote(c.Vote, ballots)
	tn.Consensus.Votes = dist
	if err != nil {
		kind := KindNoConsensus
		if errors.Is(err, errNoValue) {
			// Every sample failed: report the first sample's failure class, so that an endpoint
			// outage reads as one and not as disagreement.
			kind = KindOf(ballots[0].err)
			err = fmt.Errorf("all %d samples failed; sample 0: %w", c.N, ballots[0].err)
		}
		return fail(nodeErr(pn.n.ID, kind, err))
	}
	tn.LatencyMS = ms(time.Since(start))
	tn.Consensus.Winner = ballots[win].key
	tn.Value = ballots[win].value
	return ballots[win].value, tn, nil
}

func (pg *Program) execSample(ctx context.Context, st *runState, pn *pnode, i int) (trace.Sample, ballot) {
	c := pn.n.Consensus
	p := c.Perturbations
	var pert perturbation
	if len(p.PromptVariants) > 0 {
		pert.variant = p.PromptVariants[i%len(p.PromptVariants)]
	}
	if len(p.Temperatures) > 0 {
		t := p.Temperatures[i%len(p.Temperatures)]
		pert.temp = &t
	}
	if len(p.Seeds) > 0 {
		s := p.Seeds[i%len(p.Seeds)]
		pert.seed = &s
	}
	s := trace.Sample{Index: i, Perturbation: trace.Perturbation{PromptVariant: pert.variant, Temperature: pert.temp, Seed: pert.seed}}
	local := make(map[string]any, len(pn.members))
	for _, m := range pn.members {
		mp := &pert
		if m.n.Substrate != plans.SubstrateLLM {
			mp = nil
		}
		v, mt, err := pg.execNode(ctx, m, st.lookup(m.n.ID, local), mp, i)
		s.Nodes = append(s.Nodes, mt)
		if err != nil {
			s.Error = err.Error()
			return s, ballot{err: err}
		}
		local[m.n.ID] = v
	}
	v, err := st.lookup(pn.n.ID, local)(pn.over)
	if err == nil {
		s.Key, err = normalize(v, c.Vote.Normalize, c.Vote.Precision)
		if err != nil {
			err = nodeErr(pn.n.ID, KindParse, fmt.Errorf("sample %d: %w", i, err))
		}
	}
	if err != nil {
		s.Key, s.Error = "", err.Error()
		return s, ballot{err: err}
	}
	s.Value = v
	return s, ballot{value: v, key: s.Key, ok: true}
}
