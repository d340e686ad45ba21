package compiler

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/pac"
	"github.com/sgde-project/sgde/compiler/stats"
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/metric"
	"github.com/sgde-project/sgde/runtime/trace"
)

// Config configures one compile. Zero values take the documented defaults.
type Config struct {
	Initial *plans.Plan
	Train   []runtime.Item
	Heldout []runtime.Item
	Metric  metric.Metric
	Teacher teacher.Teacher
	Runner  Runner
	// Dir is the output directory: checkpoint, log, plan, report.
	Dir string
	// Allowed restricts the teacher's actions (nil: all).
	Allowed []edit.Action
	// K is the number of candidates per round (default 3).
	K int
	// MinDelta is the least drop in held-out risk a candidate must show (default 0.01).
	MinDelta float64
	// Alpha is the significance level of the exact McNemar test (default 0.05).
	Alpha float64
	// Patience stops the compile after this many rounds without an accepted candidate
	// (default 2).
	Patience int
	// Iterations bounds the rounds (default 8).
	Iterations int
	// Budgets: teacher tokens, student calls and wall time (0: unlimited).
	BudgetTeacherTokens int64
	BudgetStudentCalls  int64
	BudgetWall          time.Duration
	// Epsilon and Delta are the PAC target (default 0.05 each).
	Epsilon, Delta float64
	// Probe is the number of training items the whole candidate plan is run on to test new code
	// nodes (default 8); the trace probes run a new node alone on every training item whose
	// traces give its inputs (see probeCandidate).
	Probe int
	// NodeProbesOff skips the trace and edge probes of new code nodes (the plan probe still
	// runs): an ablation, to measure what those probes catch that held-out evaluation does not.
	NodeProbesOff bool
	// CodeLimits are given to every new code node a teacher proposes without limits of its own
	// (default: 5s wall time, 64 MiB), so that a node that loops forever costs seconds, not the
	// sandbox's generous defaults, and the compiled plan states its bounds.
	CodeLimits *plans.Limits
	// SplitMin is the least number of held-out wins and of losses (both) of a rejected candidate
	// for which the compiler tries a router between it and the incumbent (default 5; see
	// route.go). RoutersOff never tries one: the monolithic ablation.
	SplitMin   int
	RoutersOff bool
	// PartitionDepth bounds how many routers deep the compiler nests (default 2): each side of a
	// learned split is compiled as its own plan, which may route once more while its depth is
	// below this. MinPartition is the least number of training and of held-out items a side
	// needs to be compiled on its own (default 10); a smaller side keeps its starting plan.
	PartitionDepth int
	MinPartition   int
	// Workers bounds the items evaluated at once (default 8).
	Workers int
	Seed    int64
	// Student names the student model for provenance.
	Student string
	// Progress, when set, receives every event as it is logged and a tick per item evaluated.
	Progress func(Event)
	Tick     func()
	// Ledger, when set, is the durable count of student requests (see Ledger): State.StudentCalls
	// is taken from it, so a resumed compile reports what every session sent. Without it the
	// compile counts the requests of the results it recorded.
	Ledger *Ledger

	initialGiven bool
	// depth is 0 for the top compile, 1 for a partition compile, ...; path names the partition
	// ("edited/incumbent"), "" at the top.
	depth int
	path  string
}

func (c *Config) defaults() {
	if c.K <= 0 {
		c.K = 3
	}
	if c.MinDelta == 0 {
		c.MinDelta = 0.01
	}
	if c.Alpha == 0 {
		c.Alpha = 0.05
	}
	if c.Patience <= 0 {
		c.Patience = 2
	}
	if c.Iterations <= 0 {
		c.Iterations = 8
	}
	if c.Epsilon == 0 {
		c.Epsilon = 0.05
	}
	if c.Delta == 0 {
		c.Delta = 0.05
	}
	if c.Probe <= 0 {
		c.Probe = 8
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.SplitMin <= 0 {
		c.SplitMin = 5
	}
	if c.PartitionDepth <= 0 {
		c.PartitionDepth = 2
	}
	if c.MinPartition <= 0 {
		c.MinPartition = 10
	}
	if c.CodeLimits == nil {
		mem := uint32(64)
		c.CodeLimits = &plans.Limits{Timeout: "5s", MemoryMiB: &mem}
	}
}

func (c *Config) check() error {
	var p []string
	if c.Initial == nil {
		p = append(p, "no initial plan")
	}
	if len(c.Train) == 0 || len(c.Heldout) == 0 {
		p = append(p, "training and held-out sets must not be empty")
	}
	if c.Metric == nil || c.Teacher == nil || c.Runner == nil {
		p = append(p, "metric, teacher and runner are required")
	}
	if c.Dir == "" {
		p = append(p, "an output directory is required")
	}
	if c.MinDelta < 0 || c.MinDelta >= 1 {
		p = append(p, "min-delta must lie in [0, 1)")
	}
	if !(c.Alpha > 0 && c.Alpha <= 1) {
		p = append(p, "alpha must lie in (0, 1]")
	}
	if _, err := pac.Bound(1, c.Epsilon, c.Delta); err != nil {
		p = append(p, err.Error())
	}
	if len(p) > 0 {
		return fmt.Errorf("compile: %s", strings.Join(p, "; "))
	}
	return nil
}

// Result is what a compile produced.
type Result struct {
	Plan    *plans.Plan
	Initial *plans.Plan
	State   *State
	Train   Scores
	Heldout Scores
	PAC     pac.Report
	// Routed is the PAC section per branch and for the router when the plan has routers.
	Routed *pac.Routed
	// Partitions are the compiled sides of the accepted router (see partition.go), if any.
	Partitions []Partition
	StopReason string
}

// compiler is one compile in progress.
type compiler struct {
	cfg     Config
	st      *State
	log     *logWriter
	start   time.Time
	elapsed float64 // wall seconds of earlier sessions
	tried   map[string]bool
	// mixed is the evidence of the last candidate that helped some training items and hurt
	// others, for the teacher's next round (route.go, mixedEvidence).
	mixed *teacher.Mixed
	// resumed is true when this session continues a checkpoint (partition compiles then
	// resume theirs).
	resumed bool
}

// Compile runs SGDe from cfg.Initial, checkpointing in cfg.Dir after every iteration.
func Compile(ctx context.Context, cfg Config) (*Result, error) { return start(ctx, cfg, false) }

// Resume continues the compile checkpointed in cfg.Dir: the plans and progress come from the
// checkpoint, the data must be the checkpoint's, and the settings are cfg's. A finished compile
// only rewrites its outputs. Without a checkpoint (killed before its first one) it starts over
// from cfg.Initial, which may be nil only when there is a checkpoint.
func Resume(ctx context.Context, cfg Config) (*Result, error) { return start(ctx, cfg, true) }

func start(ctx context.Context, cfg Config, resume bool) (*Result, error) {
	cfg.defaults()
	cfg.initialGiven = cfg.Initial != nil
	if resume && cfg.Initial == nil {
		cfg.Initial = &plans.Plan{} // replaced from the checkpoint below
	}
	if err := cfg.check(); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(cfg.Dir, 0o755); err != nil {
		return nil, fmt.Errorf("output directory: %w", err)
	}
	c := &compiler{cfg: cfg, start: time.Now(), tried: map[string]bool{}}
	incumbent := cfg.Initial
	if _, err := os.Stat(filepath.Join(cfg.Dir, FileState)); resume && errors.Is(err, os.ErrNotExist) {
		// Killed before its first checkpoint: nothing to continue, so start over from the
		// caller's initial plan (the response cache keeps every answer already paid for).
		if !cfg.initialGiven {
			return nil, fmt.Errorf("resume: no checkpoint in %s and no initial plan to start over from: %w", cfg.Dir, err)
		}
		resume = false
	}
	c.resumed = resume
	if resume {
		st, err := LoadState(cfg.Dir)
		if err != nil {
			return nil, err
		}
		if st.TrainDigest != DigestItems(cfg.Train) || st.HeldoutDigest != DigestItems(cfg.Heldout) {
			return nil, errors.New("resume: the training or held-out data differ from the checkpoint's")
		}
		if incumbent, err = decodePlan(st.Incumbent); err != nil {
			return nil, err
		}
		if c.cfg.Initial, err = decodePlan(st.Initial); err != nil {
			return nil, err
		}
		c.st = st
		c.elapsed = st.WallSeconds
		for _, d := range st.Tried {
			c.tried[d] = true
		}
	} else {
		if err := cleanPartitions(cfg.Dir); err != nil {
			return nil, err
		}
		init, err := json.Marshal(cfg.Initial)
		if err != nil {
			return nil, fmt.Errorf("encode plan: %w", err)
		}
		c.st = &State{Version: stateVersion, Initial: init, TrainDigest: DigestItems(cfg.Train),
			HeldoutDigest: DigestItems(cfg.Heldout), Teacher: cfg.Teacher.Name(), Iteration: -1}
	}
	lw, err := openLog(cfg.Dir, c.st.Iteration, resume)
	if err != nil {
		return nil, err
	}
	c.log = lw
	defer lw.close()
	res, err := c.run(ctx, incumbent, resume)
	if serr := lw.sync(); err == nil && serr != nil {
		err = serr
	}
	return res, err
}

func (c *compiler) emit(ev Event) {
	ev.Time = time.Now().UTC()
	ev.TeacherTokens, ev.StudentCalls, ev.WallSeconds = c.st.TeacherTokens, c.st.StudentCalls, c.wall()
	if err := c.log.write(ev); err != nil && c.cfg.Progress != nil {
		c.cfg.Progress(Event{Kind: EventTeacher, Reason: "log write failed: " + err.Error()})
	}
	if c.cfg.Progress != nil {
		c.cfg.Progress(ev)
	}
}

func (c *compiler) wall() float64 { return c.elapsed + time.Since(c.start).Seconds() }

func (c *compiler) digest(p *plans.Plan) string {
	d, err := plans.Digest(p)
	if err != nil {
		b, _ := json.Marshal(p)
		return fmt.Sprintf("undigestable:%x", len(b))
	}
	return d
}

func (c *compiler) eval(ctx context.Context, p *plans.Plan, items []runtime.Item) (Scores, error) {
	return c.evalWith(ctx, Evaluate, p, items)
}

// evalRoutes is eval with the routing check (EvaluateRoutes); its forced runs are charged to
// the student budget like any request.
func (c *compiler) evalRoutes(ctx context.Context, p *plans.Plan, items []runtime.Item) (Scores, error) {
	return c.evalWith(ctx, EvaluateRoutes, p, items)
}

func (c *compiler) evalWith(ctx context.Context, evaluate func(context.Context, Runner, *plans.Plan, []runtime.Item, metric.Metric, int, func()) (Scores, error), p *plans.Plan, items []runtime.Item) (Scores, error) {
	ev, err := evaluate(ctx, c.cfg.Runner, p, items, c.cfg.Metric, c.cfg.Workers, c.cfg.Tick)
	_, tokens, _ := ev.Cost()
	if c.cfg.Ledger != nil {
		c.st.StudentCalls = c.cfg.Ledger.Count()
	} else {
		c.st.StudentCalls += ev.Requests()
	}
	c.st.StudentTokens += tokens
	return ev, err
}

func (c *compiler) checkpoint(p *plans.Plan) error {
	b, err := json.Marshal(p)
	if err != nil {
		return fmt.Errorf("encode plan: %w", err)
	}
	c.st.Incumbent = b
	c.st.WallSeconds = c.wall()
	c.st.Tried = c.st.Tried[:0]
	for d := range c.tried {
		c.st.Tried = append(c.st.Tried, d)
	}
	sort.Strings(c.st.Tried)
	if err := c.log.sync(); err != nil {
		return err
	}
	if err := writePlan(c.cfg.Dir, p); err != nil {
		return err
	}
	return saveState(c.cfg.Dir, c.st)
}

func writePlan(dir string, p *plans.Plan) error {
	b, err := plans.Marshal(p, plans.FormatYAML)
	if err != nil {
		return err
	}
	return writeAtomic(dir+"/"+FilePlan, b)
}

// stop returns the reason to stop before another round, or "".
func (c *compiler) stop(heldout Scores, incumbent *plans.Plan) string {
	cfg := c.cfg
	switch {
	case c.st.Iteration >= cfg.Iterations:
		return fmt.Sprintf("iteration budget reached (%d)", cfg.Iterations)
	case cfg.BudgetTeacherTokens > 0 && c.st.TeacherTokens >= cfg.BudgetTeacherTokens:
		return fmt.Sprintf("teacher token budget spent (%d of %d)", c.st.TeacherTokens, cfg.BudgetTeacherTokens)
	case cfg.BudgetStudentCalls > 0 && c.st.StudentCalls >= cfg.BudgetStudentCalls:
		return fmt.Sprintf("student call budget spent (%d of %d)", c.st.StudentCalls, cfg.BudgetStudentCalls)
	case cfg.BudgetWall > 0 && c.wall() >= cfg.BudgetWall.Seconds():
		return fmt.Sprintf("wall-time budget spent (%.0fs of %s)", c.wall(), cfg.BudgetWall)
	case c.st.Streak >= cfg.Patience:
		return fmt.Sprintf("no accepted candidate for %d rounds (patience)", c.st.Streak)
	case len(incumbent.Routers()) > 0:
		// Each branch was compiled on its own partition before the router was accepted
		// (partition.go); the teacher's edits address the nodes of one plan, so there is
		// nothing left for this compile to edit.
		return "a routed plan was accepted"
	}
	if r, err := pac.ForPlan(incumbent, cfg.Epsilon, cfg.Delta, len(cfg.Train)); err == nil && r.Satisfied && heldout.Risk() <= cfg.Epsilon {
		return fmt.Sprintf("PAC target met: held-out risk %.3f <= epsilon %g with %d >= m=%d training items", heldout.Risk(), cfg.Epsilon, len(cfg.Train), r.M)
	}
	return ""
}

func (c *compiler) run(ctx context.Context, incumbent *plans.Plan, resumed bool) (*Result, error) {
	cfg := c.cfg
	if !resumed || c.st.Iteration < 0 {
		c.emit(Event{Iteration: 0, Kind: EventStart, Reason: fmt.Sprintf("teacher %s, %d train, %d held-out items", cfg.Teacher.Name(), len(cfg.Train), len(cfg.Heldout))})
	} else {
		c.emit(Event{Iteration: c.st.Iteration, Kind: EventStart, Reason: fmt.Sprintf("resumed after iteration %d", c.st.Iteration)})
	}
	train, err := c.eval(ctx, incumbent, cfg.Train)
	if err != nil {
		return nil, fmt.Errorf("evaluate incumbent on training data: %w", err)
	}
	heldout, err := c.eval(ctx, incumbent, cfg.Heldout)
	if err != nil {
		return nil, fmt.Errorf("evaluate incumbent on held-out data: %w", err)
	}
	c.tried[c.digest(incumbent)] = true
	if c.st.Iteration < 0 {
		c.st.Iteration = 0
		c.st.Curve = append(c.st.Curve, CurvePoint{Iteration: 0, TrainRisk: train.Risk(), HeldoutRisk: heldout.Risk(), Accepted: true})
		c.emit(Event{Iteration: 0, Kind: EventIncumbent, Digest: c.digest(incumbent), TrainRisk: fptr(train.Risk()), HeldoutRisk: fptr(heldout.Risk()), Answers: ptrTo(heldout.Answers())})
		if err := c.checkpoint(incumbent); err != nil {
			return nil, err
		}
	}
	reason := c.st.StopReason
	for !c.st.Done {
		if reason = c.stop(heldout, incumbent); reason != "" {
			break
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		iter := c.st.Iteration + 1
		next, nextHeld, accepted, err := c.round(ctx, iter, incumbent, train, heldout)
		if err != nil {
			if errors.Is(err, teacher.ErrBudget) {
				reason = "teacher token budget spent"
				break
			}
			return nil, err
		}
		if accepted {
			incumbent, heldout = next, nextHeld
			if train, err = c.eval(ctx, incumbent, cfg.Train); err != nil {
				return nil, fmt.Errorf("evaluate new incumbent on training data: %w", err)
			}
			c.st.Streak = 0
		} else {
			c.st.Streak++
		}
		c.st.Iteration = iter
		c.st.Curve = append(c.st.Curve, CurvePoint{Iteration: iter, TrainRisk: train.Risk(), HeldoutRisk: heldout.Risk(), Accepted: accepted})
		c.emit(Event{Iteration: iter, Kind: EventRound, Accepted: bptr(accepted), Digest: c.digest(incumbent),
			TrainRisk: fptr(train.Risk()), HeldoutRisk: fptr(heldout.Risk()), Answers: ptrTo(heldout.Answers())})
		if err := c.checkpoint(incumbent); err != nil {
			return nil, err
		}
	}
	if !c.st.Done { // a resumed, finished compile only rewrites its outputs
		c.st.Done, c.st.StopReason = true, reason
		c.emit(Event{Iteration: c.st.Iteration, Kind: EventStop, Reason: reason, TrainRisk: fptr(train.Risk()), HeldoutRisk: fptr(heldout.Risk()), Answers: ptrTo(heldout.Answers())})
	}
	rep, err := pac.ForPlan(incumbent, cfg.Epsilon, cfg.Delta, len(cfg.Train))
	if err != nil {
		return nil, err
	}
	final, err := c.provenance(incumbent, train, heldout, rep)
	if err != nil {
		return nil, err
	}
	if err := c.checkpoint(final); err != nil {
		return nil, err
	}
	res := &Result{Plan: final, Initial: cfg.Initial, State: c.st, Train: train, Heldout: heldout, PAC: rep, Partitions: c.st.Partitions, StopReason: reason}
	if len(incumbent.Routers()) > 0 {
		routed, err := c.routedPAC(incumbent, train)
		if err != nil {
			return nil, err
		}
		res.Routed = &routed
	}
	return res, nil
}

func (c *compiler) provenance(p *plans.Plan, train, heldout Scores, rep pac.Report) (*plans.Plan, error) {
	q, err := clonePlan(p)
	if err != nil {
		return nil, err
	}
	if c.digest(p) != c.digest(c.cfg.Initial) && !strings.HasSuffix(q.Metadata.Name, "-compiled") {
		q.Metadata.Name += "-compiled"
	}
	seed := c.cfg.Seed
	all := append(slices.Clone(c.cfg.Train), c.cfg.Heldout...)
	q.Provenance = &plans.Provenance{
		Teacher:       c.cfg.Teacher.Name(),
		Student:       c.cfg.Student,
		DatasetDigest: DigestItems(all),
		Seed:          &seed,
		TrainRisk:     fptr(train.Risk()),
		HeldoutRisk:   fptr(heldout.Risk()),
		Cost: &plans.Cost{TeacherTokens: c.st.TeacherTokens, StudentCalls: c.st.StudentCalls,
			StudentTokens: c.st.StudentTokens, WallSeconds: math.Round(c.wall()*1000) / 1000, Iterations: c.st.Iteration},
		PAC:        &plans.PAC{K: rep.K, Epsilon: rep.Epsilon, Delta: rep.Delta, M: rep.M, TrainN: rep.TrainN, Satisfied: rep.Satisfied},
		CompiledAt: time.Now().UTC().Format(time.RFC3339),
		Compiler:   "sgde",
	}
	if err := q.Validate(); err != nil {
		return nil, fmt.Errorf("compiled plan with provenance: %w", err)
	}
	return q, nil
}

func clonePlan(p *plans.Plan) (*plans.Plan, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("copy plan: %w", err)
	}
	var q plans.Plan
	if err := json.Unmarshal(b, &q); err != nil {
		return nil, fmt.Errorf("copy plan: %w", err)
	}
	return &q, nil
}

// scored is a candidate that reached held-out evaluation.
type scored struct {
	idx     int
	plan    *plans.Plan
	held    Scores
	risk    float64
	calls   float64
	p       float64
	wins    int
	losses  int
	passing bool
	ev      Event
	// router is the held-out check of a teacher's new router (nil for other candidates).
	router *RouterCheck
}

// round asks the teacher, validates and evaluates the candidates, and picks one to accept.
func (c *compiler) round(ctx context.Context, iter int, incumbent *plans.Plan, train, heldout Scores) (*plans.Plan, Scores, bool, error) {
	cfg := c.cfg
	mixed := c.mixed
	c.mixed = nil // shown once: the round after the candidate that helped and hurt
	if cfg.RoutersOff {
		mixed = nil
	}
	prop, err := cfg.Teacher.Propose(ctx, teacher.Input{
		Plan: incumbent, Nodes: evidence(incumbent, train, cfg.Train), Allowed: cfg.Allowed, K: cfg.K,
		Round: iter, Tried: c.tried, Digest: c.digest, Mixed: mixed,
	})
	c.st.TeacherTokens += prop.Tokens
	for _, p := range prop.Problems {
		c.emit(Event{Iteration: iter, Kind: EventTeacher, Reason: p})
	}
	if err != nil {
		if errors.Is(err, teacher.ErrBudget) || ctx.Err() != nil {
			return nil, Scores{}, false, err
		}
		// An unreachable or failing teacher ends the round without a candidate; patience and
		// budgets decide whether to go on.
		c.emit(Event{Iteration: iter, Kind: EventTeacher, Reason: "teacher failed: " + err.Error()})
		return nil, Scores{}, false, nil
	}
	c.emit(Event{Iteration: iter, Kind: EventCritique, Critique: prop.Critique})
	if len(prop.Candidates) == 0 {
		c.emit(Event{Iteration: iter, Kind: EventCandidate, Accepted: bptr(false), Reason: "the teacher proposed no usable candidate"})
	}
	incRisk := heldout.Risk()
	var survivors []scored
	var probeFailed *scored
	for i, cand := range prop.Candidates {
		if i >= cfg.K {
			break
		}
		ev := Event{Iteration: iter, Kind: EventCandidate, Candidate: i + 1, Edits: cand.Edits, Rationale: cand.Rationale,
			IncumbentRisk: fptr(incRisk), Accepted: bptr(false)}
		for _, e := range cand.Edits {
			ev.Summary = append(ev.Summary, e.Summary())
		}
		reject := func(reason string) { ev.Reason = reason; c.emit(ev) }
		if ctx.Err() != nil {
			return nil, Scores{}, false, ctx.Err()
		}
		if cfg.RoutersOff && slices.ContainsFunc(cand.Edits, func(e edit.Edit) bool { return e.Action == edit.Route }) {
			reject("routers are disabled (--no-routers): a route edit is not tried")
			continue
		}
		q, err := edit.Apply(incumbent, cand.Edits...)
		if err != nil {
			reject("plan validation failed: " + err.Error())
			continue
		}
		q.Metadata.Name = incumbent.Metadata.Name
		c.limitNewCode(incumbent, q)
		d := c.digest(q)
		ev.Digest = d
		if c.tried[d] {
			reject("already evaluated in an earlier round")
			continue
		}
		c.tried[d] = true
		why, probes, err := c.probeCandidate(ctx, incumbent, q, train)
		if err != nil {
			return nil, Scores{}, false, err
		}
		ev.Probes = probes
		if why != "" {
			reject(why)
			if probeFailed == nil && rightOnSome(why) {
				// Right on some probe items, wrong on others: on a mixture, the evidence of
				// an edit that helps one kind of item (tried for a split below).
				probeFailed = &scored{idx: i, plan: q, ev: ev}
			}
			continue
		}
		eval := c.eval
		if len(q.Routers()) > len(incumbent.Routers()) {
			// A teacher's route edit: a partition proposal whose branches are compiled on their
			// own items first (teacherroute.go); its held-out evaluation also checks the
			// routing, so the log says how many items it misrouted.
			eval = c.evalRoutes
			rq, parts, err := c.compileRouteBranches(ctx, iter, i+1, q)
			if err != nil {
				return nil, Scores{}, false, err
			}
			if ev.Partitions = parts; rq != q {
				q = rq
				ev.Digest = c.digest(q)
				c.tried[ev.Digest] = true
			}
		}
		held, err := eval(ctx, q, cfg.Heldout)
		if err != nil {
			return nil, Scores{}, false, fmt.Errorf("evaluate candidate %d: %w", i+1, err)
		}
		var router *RouterCheck
		if rs := held.Summary(q.Metadata.Name, "", nil); len(rs.Routers) > 0 && rs.Routers[0].Checked > 0 {
			ev.RouterAccuracy, ev.Misrouted = fptr(rs.Routers[0].Accuracy), rs.Misrouted
			router = &RouterCheck{Checked: rs.Routers[0].Checked, Misrouted: rs.Routers[0].Misrouted}
		}
		pr, err := stats.Pair(held.Bits(), heldout.Bits())
		if err != nil {
			return nil, Scores{}, false, err
		}
		s := scored{idx: i, plan: q, held: held, risk: held.Risk(), wins: pr.OnlyA, losses: pr.OnlyB,
			p: stats.McNemarExact(pr.OnlyA, pr.OnlyB), router: router}
		s.calls, _, _ = held.PerItem()
		ev.HeldoutRisk, ev.PValue, ev.Wins, ev.Losses, ev.CallsPerItem = fptr(s.risk), fptr(s.p), s.wins, s.losses, fptr(s.calls)
		ev.Answers = ptrTo(held.Answers())
		switch {
		case held.Correct() == 0 && held.N() > 0 && held.Results[0].Error != "":
			ev.Reason = fmt.Sprintf("the candidate failed on the held-out items (%s): %s", held.Results[0].ErrorKind, firstLine(held.Results[0].Error, 300))
		case incRisk-s.risk < cfg.MinDelta-1e-12:
			ev.Reason = fmt.Sprintf("held-out risk %.3f does not drop by min-delta %g from %.3f", s.risk, cfg.MinDelta, incRisk)
		case s.wins <= s.losses || s.p > cfg.Alpha:
			ev.Reason = fmt.Sprintf("not significant: McNemar p=%.3g > alpha %g (%d wins, %d losses)", s.p, cfg.Alpha, s.wins, s.losses)
		default:
			s.passing = true
		}
		s.ev = ev
		survivors = append(survivors, s)
		if cfg.BudgetStudentCalls > 0 && c.st.StudentCalls >= cfg.BudgetStudentCalls {
			break
		}
	}
	// The best passing candidate: lowest risk, ties broken by cost (student calls per item),
	// then by the teacher's order.
	sort.SliceStable(survivors, func(i, j int) bool {
		a, b := survivors[i], survivors[j]
		if a.passing != b.passing {
			return a.passing
		}
		if a.risk != b.risk {
			return a.risk < b.risk
		}
		return a.calls < b.calls
	})
	var best scored
	found := false
	for i := range survivors {
		s := &survivors[i]
		if s.passing && !found {
			best, found = *s, true
			s.ev.Accepted = bptr(true)
			if len(s.ev.Partitions) > 0 {
				c.st.Partitions = s.ev.Partitions
			}
			if s.router != nil {
				// Like a learned split's: the PAC router section of the report and of
				// `sgde bound` bounds misrouting from it.
				c.st.Router = s.router
			}
			s.ev.Reason = fmt.Sprintf("held-out risk %.3f -> %.3f, McNemar p=%.3g (%d wins, %d losses), %.2f calls/item",
				incRisk, s.risk, s.p, s.wins, s.losses, s.calls)
		} else if s.passing {
			s.ev.Reason = fmt.Sprintf("passed, but candidate %d is better (risk %.3f, %.2f calls/item)", best.idx+1, best.risk, best.calls)
		}
	}
	// Log in the teacher's order; best is a copy, so re-sorting cannot change what is accepted.
	sort.SliceStable(survivors, func(i, j int) bool { return survivors[i].idx < survivors[j].idx })
	for _, s := range survivors {
		c.emit(s.ev)
	}
	if !found && !cfg.RoutersOff && len(incumbent.Routers()) == 0 {
		// A candidate that both helps and hurts many items: try routing between it and the
		// incumbent, the one with the most of both first.
		var split *scored
		for i := range survivors {
			s := &survivors[i]
			if s.wins >= cfg.SplitMin && s.losses >= cfg.SplitMin && (split == nil || min(s.wins, s.losses) > min(split.wins, split.losses)) {
				split = s
			}
		}
		if split != nil {
			q, held, ok, err := c.trySplit(ctx, iter, incumbent, train, heldout, *split)
			if err != nil || ok {
				return q, held, ok, err
			}
		}
		// No edit to split by, or its split failed: once per compile, the kinds of answers.
		if !c.st.Clustered {
			q, held, ok, err := c.tryClusters(ctx, iter, incumbent, train, heldout)
			if err != nil || ok {
				return q, held, ok, err
			}
		}
		// A new code node that failed its probe tests, being right on some items (this round's,
		// or one kept from a round that accepted something else): split by the items it helps
		// on the training set (it never reached the held-out test).
		if probeFailed == nil && c.st.PendingSplit != nil {
			if q, err := decodePlan(c.st.PendingSplit); err == nil {
				probeFailed = &scored{idx: -1, plan: q}
			}
		}
		c.st.PendingSplit = nil
		if probeFailed != nil {
			return c.trySplit(ctx, iter, incumbent, train, heldout, *probeFailed)
		}
	}
	if found && probeFailed != nil && c.st.PendingSplit == nil && !cfg.RoutersOff && len(best.plan.Routers()) == 0 {
		if b, err := json.Marshal(probeFailed.plan); err == nil {
			c.st.PendingSplit = b
		}
	}
	if !found {
		return nil, Scores{}, false, nil
	}
	return best.plan, best.held, true, nil
}

var probeRightRE = regexp.MustCompile(`fails its tests: the plan is right on (\d+) of`)

// rightOnSome reports whether a probe rejection says a code node failed its tests while the plan
// was right on some probe items (a node right on none helps no kind of item).
func rightOnSome(why string) bool {
	m := probeRightRE.FindStringSubmatch(why)
	return m != nil && m[1] != "0"
}

// codeFailure returns why a fresh code node failed hard (build, limit, trap) in ev, or "".
func (c *compiler) codeFailure(ev Scores, fresh map[string]bool) string {
	for i, o := range ev.Results {
		if why := hardFailure(o, ev.Traces[i], fresh); why != "" {
			return why
		}
	}
	return ""
}

func hardFailure(o runtime.ItemResult, tr *trace.Run, fresh map[string]bool) string {
	if tr == nil {
		return ""
	}
	if o.ErrorKind == "build_error" {
		return fmt.Sprintf("code node %s does not build: %s", tr.ErrorNode, firstLine(o.Error, 600))
	}
	var why string
	var visit func([]*trace.Node)
	visit = func(nodes []*trace.Node) {
		for _, tn := range nodes {
			if tn == nil || why != "" {
				continue
			}
			if fresh[tn.ID] {
				if limitKind(tn.ErrorKind) {
					why = fmt.Sprintf("code node %s hit a limit on training item %s (%s): %s", tn.ID, o.ID, tn.ErrorKind, firstLine(tn.Error, 300))
				} else if tn.ErrorKind == "build_error" {
					why = fmt.Sprintf("code node %s does not build: %s", tn.ID, firstLine(tn.Error, 600))
				}
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
	visit(tr.Nodes)
	return why
}

// limitNewCode gives the code nodes of q that inc lacks the compiler's limits when they have
// none of their own.
func (c *compiler) limitNewCode(inc, q *plans.Plan) {
	old := map[string]bool{}
	inc.Walk(func(_ *plans.Plan, n *plans.Node) {
		if n.Code != nil {
			old[n.Code.SourceText()] = true
		}
	})
	// Walk reaches the code nodes of router branches too (a teacher's route edit may offload
	// inside a branch).
	q.Walk(func(_ *plans.Plan, n *plans.Node) {
		if n.Code != nil && !old[n.Code.SourceText()] && n.Code.Limits == nil {
			l := *c.cfg.CodeLimits
			n.Code.Limits = &l
		}
	})
}

// judgeCode applies the test rule to the probe outcomes of fresh code nodes. A router's
// classifier (in classifiers) is held only to running without a hard failure: whether the plan
// is right says how its branches answer, not whether it routes well (the held-out test and the
// routing check judge that). A node inside a router's branch (in inBranch) runs only on the
// items routed there, which the probe items may not include: it is judged where it ran.
func (c *compiler) judgeCode(ev Scores, fresh map[string]bool, probeN int, classifiers, inBranch map[string]bool) string {
	if why := c.codeFailure(ev, fresh); why != "" {
		return why
	}
	ran, right := ranRight(ev, fresh)
	ids := make([]string, 0, len(fresh))
	for id := range fresh {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		if ran[id] == 0 && !inBranch[id] {
			return fmt.Sprintf("code node %s could not be tested: it never ran on the %d probe items", id, probeN)
		}
		if 2*right[id] < ran[id] && !classifiers[id] {
			return fmt.Sprintf("code node %s fails its tests: the plan is right on %d of the %d probe items where it ran", id, right[id], ran[id])
		}
	}
	return ""
}

// limitKind reports whether a runtime error kind says a code call was stopped by a sandbox
// limit or trapped.
func limitKind(kind string) bool {
	switch kind {
	case "code_fuel_exhausted", "code_timeout", "code_memory_limit", "code_stack_overflow", "code_trap", "code_output_too_large", "timeout":
		return true
	}
	return false
}

func firstLine(s string, n int) string {
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}

func ptrTo[T any](v T) *T { return &v }
