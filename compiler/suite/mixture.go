package suite

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/sgde-project/sgde/compiler"
	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/report"
	"github.com/sgde-project/sgde/compiler/stats"
	"github.com/sgde-project/sgde/compiler/task"
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/metric"
	"github.com/sgde-project/sgde/runtime/trace"
	"go.yaml.in/yaml/v3"
)

// The mixture experiment (issue 17): several task families mixed into one training set and
// compiled once, with routers (the routed plan) and without (the monolithic plan), against the
// zero-shot plan and each family compiled alone, all scored per family on items no compile saw.
//
// The compiler must not learn which family an item comes from: mixture items carry an opaque
// id ("train-0001"), only the inputs the family's task maps and the label, and are shuffled
// across families. The family of each item is kept here, for the tables only.

// Mixture is a mixture file (testdata/tasks/mixture.yaml): the families mixed and the one plan
// every compile starts from.
type Mixture struct {
	Name string `yaml:"name"`
	// Plan is the starting plan of every compile and the zero-shot baseline, relative to the
	// mixture file.
	Plan string `yaml:"plan"`
	// Families are the task file and data of each family, relative to the mixture file.
	Families []Family `yaml:"families"`
	// Knowledge are further files the simulated student reads (globs, relative to the file):
	// reference programs that complete some families' items.
	Knowledge []string `yaml:"knowledge,omitempty"`
}

// LoadMixture reads a mixture file and resolves its paths; only families named in keep are kept
// when keep is not empty (ErrUnknownFamily for a name it does not list).
func LoadMixture(path string, keep []string) (*Mixture, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("mixture: %w", err)
	}
	var m Mixture
	dec := yaml.NewDecoder(bytes.NewReader(b))
	dec.KnownFields(true)
	if err := dec.Decode(&m); err != nil {
		return nil, fmt.Errorf("mixture %s: %w", path, err)
	}
	dir := filepath.Dir(path)
	abs := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(dir, p)
	}
	if m.Plan == "" || len(m.Families) == 0 {
		return nil, fmt.Errorf("mixture %s: a plan and families are required", path)
	}
	m.Plan = abs(m.Plan)
	want, missing := map[string]bool{}, map[string]bool{}
	for _, k := range keep {
		want[k], missing[k] = true, true
	}
	var fams []Family
	seen := map[string]bool{}
	for _, f := range m.Families {
		if f.Name == "" || f.Task == "" || f.Data == "" || seen[f.Name] {
			return nil, fmt.Errorf("mixture %s: family %q needs a unique name, a task and data", path, f.Name)
		}
		seen[f.Name] = true
		if len(want) > 0 && !want[f.Name] {
			continue
		}
		delete(missing, f.Name)
		fams = append(fams, Family{Name: f.Name, Task: abs(f.Task), Data: abs(f.Data)})
	}
	if len(missing) > 0 {
		var names []string
		for k := range missing {
			names = append(names, k)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("%w: %s (not in %s)", ErrUnknownFamily, strings.Join(names, ", "), path)
	}
	if len(fams) < 2 {
		return nil, fmt.Errorf("%w: mixture %s, %d family", ErrTooFewFamilies, path, len(fams))
	}
	m.Families = fams
	for i, k := range m.Knowledge {
		m.Knowledge[i] = abs(k)
	}
	return &m, nil
}

// ErrTooFewFamilies is returned by LoadMixture when fewer than two families are kept.
var ErrTooFewFamilies = errors.New("a mixture needs at least two families")

// KnowledgeFiles are the files a simulated student needs: every family's data, then the
// mixture's further knowledge files.
func (m *Mixture) KnowledgeFiles() ([]string, error) {
	var out []string
	for _, f := range m.Families {
		out = append(out, f.Data)
	}
	for _, g := range m.Knowledge {
		files, err := filepath.Glob(g)
		if err != nil {
			return nil, fmt.Errorf("mixture knowledge %s: %w", g, err)
		}
		out = append(out, files...)
	}
	return out, nil
}

// MixtureConfig configures a mixture run.
type MixtureConfig struct {
	Mixture *Mixture
	// Dir holds the compiles (monolithic/, routed/, alone/FAMILY/) and mixture.json.
	Dir string
	// Runner scores the plans on the test items; CompileRunner, when set, makes the runner of
	// each compile, run in dir (so that each compile's student requests, its cost, are counted
	// against its own response cache rather than answered from another compile's). release is
	// called when the compile is done.
	Runner        compiler.Runner
	CompileRunner func(ctx context.Context, dir string) (r compiler.Runner, release func(), err error)
	// Student names the student for provenance.
	Student string
	// Train, Heldout and Test are the per-family split sizes (default 50 each): the mixture's
	// training set is every family's training part, its held-out batch every held-out part.
	Train, Heldout, Test int
	Seed                 int64
	Workers              int
	Progress             func(string)
	// Teacher makes the teacher of each compile (default: the library teacher).
	Teacher func() teacher.Teacher
}

func (c *MixtureConfig) defaults() {
	if c.Train <= 0 {
		c.Train = 50
	}
	if c.Heldout <= 0 {
		c.Heldout = 50
	}
	if c.Test <= 0 {
		c.Test = 50
	}
	if c.Workers <= 0 {
		c.Workers = 8
	}
	if c.Progress == nil {
		c.Progress = func(string) {}
	}
	if c.Teacher == nil {
		c.Teacher = func() teacher.Teacher { return teacher.NewLibrary() }
	}
}

// Mixture methods, in table order.
const (
	MethodZeroShot   = "zero-shot"
	MethodMonolithic = "monolithic"
	MethodRouted     = "routed"
	MethodAlone      = "per-family"
)

var mixtureMethods = []string{MethodZeroShot, MethodMonolithic, MethodRouted, MethodAlone}

// Paired is an exact McNemar test of plan A against plan B on the same items: Wins are the
// items only A got right, Losses those only B got right.
type Paired struct {
	Wins   int     `json:"wins"`
	Losses int     `json:"losses"`
	P      float64 `json:"p_value"`
}

func pairOf(a, b []bool) (Paired, error) {
	pr, err := stats.Pair(a, b)
	if err != nil {
		return Paired{}, err
	}
	return Paired{Wins: pr.OnlyA, Losses: pr.OnlyB, P: stats.McNemarExact(pr.OnlyA, pr.OnlyB)}, nil
}

// FamilyOutcome is one family's line of the mixture table, on its test items.
type FamilyOutcome struct {
	Family string `json:"family"`
	// Rows are zero-shot, monolithic, routed and per-family, in that order.
	Rows []report.Row `json:"rows"`
	// RoutedVsMonolithic and RoutedVsAlone are the routed plan's paired tests.
	RoutedVsMonolithic Paired `json:"routed_vs_monolithic"`
	RoutedVsAlone      Paired `json:"routed_vs_per_family"`
	// AloneShape is the shape of the family's own compiled plan.
	AloneShape string `json:"per_family_shape"`
	// Branches counts the test items the routed plan's router sent to each branch ("" when the
	// run failed before the router); Routable are the items some branch run alone gets right
	// and another gets wrong, Misrouted those of them sent to a branch that gets them wrong.
	Branches  map[string]int `json:"branches,omitempty"`
	Routable  int            `json:"routable"`
	Misrouted int            `json:"misrouted"`
}

// CompileCost is what one compile of the mixture run cost and reached.
type CompileCost struct {
	Name          string  `json:"name"`
	Shape         string  `json:"shape"`
	StudentCalls  int64   `json:"student_calls"`
	TeacherTokens int64   `json:"teacher_tokens"`
	Seconds       float64 `json:"seconds"`
	Iterations    int     `json:"iterations"`
	Stop          string  `json:"stop_reason"`
	// HeldoutRisk is the compiled plan's risk on its own held-out batch.
	HeldoutRisk float64 `json:"heldout_risk"`
}

// MixtureResult is everything the mixture table shows.
type MixtureResult struct {
	Name     string   `json:"name"`
	Families []string `json:"families"`
	Seed     int64    `json:"seed"`
	// Train, Heldout, Test are per family; the mixture's training and held-out sets are
	// len(Families) times larger.
	Train, Heldout, Test int
	PerFamily            []FamilyOutcome `json:"per_family"`
	// Pooled are the four rows over every family's test items together.
	Pooled             []report.Row `json:"pooled"`
	RoutedVsMonolithic Paired       `json:"routed_vs_monolithic"`
	// Routers is the number of router nodes in the routed plan (0: it never routed).
	Routers int `json:"routers"`
	// Routable and Misrouted over all test items (see FamilyOutcome).
	Routable  int `json:"routable"`
	Misrouted int `json:"misrouted"`
	// Compiles: monolithic, routed, then each family alone.
	Compiles []CompileCost `json:"compiles"`
	// Splits are the routed compile's candidates that won and lost at least SplitMin held-out
	// items each (what sets off the compiler's router stage), broken down by family; Routing
	// is what the router stage said each time it ran.
	Splits  []SplitCandidate `json:"split_candidates,omitempty"`
	Routing []string         `json:"router_stage,omitempty"`
	// RoutedYAML is the routed compile's plan.
	RoutedYAML string  `json:"routed_plan_yaml"`
	Seconds    float64 `json:"seconds"`
}

// SplitCandidate is a candidate of the routed compile that both won and lost at least
// splitMin held-out items against its incumbent, and where, by family, its wins and losses were.
type SplitCandidate struct {
	Iteration int    `json:"iteration"`
	Candidate int    `json:"candidate"`
	Summary   string `json:"summary"`
	// Wins and Losses are the held-out discordant pairs as the compile logged them.
	Wins      int           `json:"wins"`
	Losses    int           `json:"losses"`
	PerFamily []FamilySplit `json:"per_family"`
}

// FamilySplit is one family's share of a split candidate's discordant pairs, on its training
// and held-out items.
type FamilySplit struct {
	Family      string `json:"family"`
	TrainWins   int    `json:"train_wins"`
	TrainLosses int    `json:"train_losses"`
	HeldWins    int    `json:"heldout_wins"`
	HeldLosses  int    `json:"heldout_losses"`
}

// splitMin is the compiler's default Config.SplitMin: the wins and the losses a rejected
// candidate needs before the compiler tries a router.
const splitMin = 5

// FileMixture is the mixture run's result, in Dir.
const FileMixture = "mixture.json"

// family is one family's data, split.
type family struct {
	name             string
	metric           metric.Metric
	train, held, tst []runtime.Item
}

// LabelMetric scores a numeric label (a JSON number) with Numeric and any other label with
// Exact: one metric over a mixture whose families score that way, decided by the label alone
// (never by the item's family).
type LabelMetric struct {
	Numeric metric.Numeric
}

// Name implements metric.Metric.
func (LabelMetric) Name() string { return "numeric-or-exact" }

// Score implements metric.Metric.
func (m LabelMetric) Score(prediction, label any) bool {
	if numericLabel(label) {
		return m.Numeric.Score(prediction, label)
	}
	return metric.Exact{}.Score(prediction, label)
}

func numericLabel(v any) bool {
	switch v.(type) {
	case float64, float32, int, int64, json.Number:
		return true
	}
	return false
}

// loadFamilies reads and splits every family, and checks that its items map onto the starting
// plan's inputs and that LabelMetric scores them as the family's own task does.
func loadFamilies(cfg MixtureConfig, initial *plans.Plan) ([]family, float64, error) {
	var fams []family
	tol := -1.0
	for _, f := range cfg.Mixture.Families {
		tk, err := task.Load(f.Task)
		if err != nil {
			return nil, 0, fmt.Errorf("family %s: %w", f.Name, err)
		}
		for _, in := range initial.Inputs {
			if _, ok := tk.Inputs[in.Name]; !ok {
				return nil, 0, fmt.Errorf("family %s: its task maps no data field onto the plan's input %q", f.Name, in.Name)
			}
		}
		if len(tk.Inputs) != len(initial.Inputs) {
			return nil, 0, fmt.Errorf("family %s: its task maps %d inputs, the starting plan has %d", f.Name, len(tk.Inputs), len(initial.Inputs))
		}
		items, err := tk.ReadItemsFile(f.Data)
		if err != nil {
			return nil, 0, fmt.Errorf("family %s: %w", f.Name, err)
		}
		for _, it := range items {
			if numericLabel(it.Label) != (tk.Metric == "numeric") {
				return nil, 0, fmt.Errorf("family %s: item %s has label %v, which the mixture's metric would not score %s", f.Name, it.ID, it.Label, tk.Metric)
			}
		}
		if tk.Metric == "numeric" {
			if tol >= 0 && tol != tk.Tolerance {
				return nil, 0, fmt.Errorf("family %s: numeric tolerance %g differs from another family's %g", f.Name, tk.Tolerance, tol)
			}
			tol = tk.Tolerance
		}
		train, held, test, err := Split(items, cfg.Seed, cfg.Train, cfg.Heldout, cfg.Test)
		if err != nil {
			return nil, 0, fmt.Errorf("family %s: %w", f.Name, err)
		}
		fams = append(fams, family{name: f.Name, metric: tk.Scoring(), train: train, held: held, tst: test})
	}
	if tol < 0 {
		tol = metric.DefaultRelTol
	}
	return fams, tol, nil
}

// Mix pools the families' parts into one set: shuffled with seed, each item given the opaque id
// prefix-NNNN, and keeping only its inputs and label. It also returns each item's family, by
// the new id, for the caller's tables; nothing of it goes into the items.
func Mix(parts map[string][]runtime.Item, prefix string, seed int64) ([]runtime.Item, map[string]string) {
	names := make([]string, 0, len(parts))
	for n := range parts {
		names = append(names, n)
	}
	sort.Strings(names)
	type tagged struct {
		it  runtime.Item
		fam string
	}
	var all []tagged
	for _, n := range names {
		for _, it := range parts[n] {
			all = append(all, tagged{it, n})
		}
	}
	r := rand.New(rand.NewPCG(uint64(seed), 0x313c))
	r.Shuffle(len(all), func(i, j int) { all[i], all[j] = all[j], all[i] })
	out := make([]runtime.Item, len(all))
	fam := make(map[string]string, len(all))
	for i, t := range all {
		id := fmt.Sprintf("%s-%04d", prefix, i+1)
		in := make(map[string]any, len(t.it.Inputs))
		for k, v := range t.it.Inputs {
			in[k] = v
		}
		out[i] = runtime.Item{ID: id, Inputs: in, Label: t.it.Label}
		fam[id] = t.fam
	}
	return out, fam
}

// RunMixture compiles the mixture with and without routers and every family alone, scores the
// four plans on every family's test items and writes Dir/mixture.json.
func RunMixture(ctx context.Context, cfg MixtureConfig) (*MixtureResult, error) {
	cfg.defaults()
	start := time.Now()
	if cfg.Mixture == nil || cfg.Runner == nil || cfg.Dir == "" {
		return nil, errors.New("mixture: a mixture, a runner and an output directory are required")
	}
	initial, err := plans.Load(cfg.Mixture.Plan)
	if err != nil {
		return nil, fmt.Errorf("mixture: starting plan: %w", err)
	}
	if initial, err = compiler.Inline(initial); err != nil {
		return nil, err
	}
	fams, tol, err := loadFamilies(cfg, initial)
	if err != nil {
		return nil, fmt.Errorf("mixture: %w", err)
	}
	trainParts, heldParts := map[string][]runtime.Item{}, map[string][]runtime.Item{}
	for _, f := range fams {
		trainParts[f.name], heldParts[f.name] = f.train, f.held
	}
	mixTrain, _ := Mix(trainParts, "train", cfg.Seed)
	mixHeld, _ := Mix(heldParts, "heldout", cfg.Seed+1)
	mixMetric := LabelMetric{Numeric: metric.Numeric{RelTol: tol}}

	res := &MixtureResult{Name: cfg.Mixture.Name, Seed: cfg.Seed, Train: cfg.Train, Heldout: cfg.Heldout, Test: cfg.Test}
	for _, f := range fams {
		res.Families = append(res.Families, f.name)
	}
	compile := func(name, dir string, train, held []runtime.Item, m metric.Metric, routersOff bool) (*compiler.Result, error) {
		cfg.Progress(fmt.Sprintf("%s: compiling on %d training and %d held-out items", name, len(train), len(held)))
		t0 := time.Now()
		if err := os.RemoveAll(dir); err != nil {
			return nil, err
		}
		runner := cfg.Runner
		if cfg.CompileRunner != nil {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return nil, err
			}
			rr, release, err := cfg.CompileRunner(ctx, dir)
			if err != nil {
				return nil, fmt.Errorf("compile %s: %w", name, err)
			}
			defer release()
			runner = rr
		}
		r, err := compiler.Compile(ctx, compiler.Config{
			Initial: initial, Train: train, Heldout: held, Metric: m, Teacher: cfg.Teacher(), Runner: runner,
			Dir: dir, Seed: cfg.Seed, Student: cfg.Student, Workers: cfg.Workers, RoutersOff: routersOff,
		})
		if err != nil {
			return nil, fmt.Errorf("compile %s: %w", name, err)
		}
		cc := CompileCost{Name: name, Shape: Shape(r.Plan), StudentCalls: r.State.StudentCalls, TeacherTokens: r.State.TeacherTokens,
			Seconds: time.Since(t0).Seconds(), Iterations: r.State.Iteration, Stop: r.StopReason, HeldoutRisk: r.Heldout.Risk()}
		res.Compiles = append(res.Compiles, cc)
		cfg.Progress(fmt.Sprintf("%s: %s, held-out risk %.3f, %d student calls, %.0fs (%s)", name, cc.Shape, cc.HeldoutRisk, cc.StudentCalls, cc.Seconds, cc.Stop))
		return r, nil
	}
	mono, err := compile(MethodMonolithic, filepath.Join(cfg.Dir, "monolithic"), mixTrain, mixHeld, mixMetric, true)
	if err != nil {
		return nil, err
	}
	routed, err := compile(MethodRouted, filepath.Join(cfg.Dir, "routed"), mixTrain, mixHeld, mixMetric, false)
	if err != nil {
		return nil, err
	}
	alone := make([]*plans.Plan, len(fams))
	for i, f := range fams {
		r, err := compile(MethodAlone+" "+f.name, filepath.Join(cfg.Dir, "alone", f.name), f.train, f.held, f.metric, false)
		if err != nil {
			return nil, err
		}
		alone[i] = r.Plan
	}
	if err := splitEvidence(ctx, cfg, initial, fams, filepath.Join(cfg.Dir, "routed"), res); err != nil {
		return nil, err
	}
	res.Routers = len(routed.Plan.Routers())
	if y, err := plans.Marshal(routed.Plan, plans.FormatYAML); err == nil {
		res.RoutedYAML = string(y)
	}

	pooled := make([]compiler.Scores, len(mixtureMethods))
	for i, f := range fams {
		cfg.Progress(fmt.Sprintf("%s: scoring the four plans on %d test items", f.name, len(f.tst)))
		out := FamilyOutcome{Family: f.name, AloneShape: Shape(alone[i])}
		var bits [][]bool
		var routedScores compiler.Scores
		for j, p := range []*plans.Plan{initial, mono.Plan, routed.Plan, alone[i]} {
			s, err := compiler.Evaluate(ctx, cfg.Runner, p, f.tst, f.metric, cfg.Workers, nil)
			if err != nil {
				return nil, fmt.Errorf("mixture: evaluate %s on %s: %w", mixtureMethods[j], f.name, err)
			}
			out.Rows = append(out.Rows, report.RowOf(mixtureMethods[j], s, nil))
			bits = append(bits, s.Bits())
			pooled[j].Results = append(pooled[j].Results, s.Results...)
			pooled[j].Traces = append(pooled[j].Traces, s.Traces...)
			if j == 2 {
				routedScores = s
			}
		}
		if out.RoutedVsMonolithic, err = pairOf(bits[2], bits[1]); err != nil {
			return nil, err
		}
		if out.RoutedVsAlone, err = pairOf(bits[2], bits[3]); err != nil {
			return nil, err
		}
		if err := routerOutcome(ctx, cfg, routed.Plan, f, routedScores, &out); err != nil {
			return nil, err
		}
		res.Routable += out.Routable
		res.Misrouted += out.Misrouted
		res.PerFamily = append(res.PerFamily, out)
	}
	for j, s := range pooled {
		row := report.RowOf(mixtureMethods[j], s, nil)
		switch mixtureMethods[j] {
		case MethodMonolithic:
			row.CompileStudentCalls, row.CompileTeacherTokens, row.CompileSeconds = res.Compiles[0].StudentCalls, res.Compiles[0].TeacherTokens, res.Compiles[0].Seconds
		case MethodRouted:
			row.CompileStudentCalls, row.CompileTeacherTokens, row.CompileSeconds = res.Compiles[1].StudentCalls, res.Compiles[1].TeacherTokens, res.Compiles[1].Seconds
		case MethodAlone:
			for _, c := range res.Compiles[2:] {
				row.CompileStudentCalls += c.StudentCalls
				row.CompileTeacherTokens += c.TeacherTokens
				row.CompileSeconds += c.Seconds
			}
		}
		res.Pooled = append(res.Pooled, row)
	}
	if res.RoutedVsMonolithic, err = pairOf(pooled[2].Bits(), pooled[1].Bits()); err != nil {
		return nil, err
	}
	res.Seconds = time.Since(start).Seconds()
	b, err := json.MarshalIndent(res, "", "  ")
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(cfg.Dir, FileMixture), append(b, '\n'), 0o644); err != nil {
		return nil, fmt.Errorf("mixture: write result: %w", err)
	}
	return res, nil
}

// leaf is one plan a routed plan can end in: the path of branch names that leads to it (e.g.
// "edited/incumbent" under nested routers), the plan, and which item input feeds each of its
// inputs.
type leaf struct {
	path   string
	plan   *plans.Plan
	inputs map[string]string
}

// leaves are the plans p ends in when its output node is a router, followed through nested
// routers; p itself when it does not route. ok is false when a branch reads something other than
// the enclosing plan's inputs (it cannot then be run alone on the items).
func leaves(p *plans.Plan, path string, inputs map[string]string) (out []leaf, ok bool) {
	id, _, _ := strings.Cut(p.Output, ".")
	n := p.Node(id)
	if n == nil || n.Router == nil {
		return []leaf{{path: path, plan: p, inputs: inputs}}, true
	}
	for _, b := range n.Router.Branches {
		sub := b.SubPlan()
		if sub == nil {
			return nil, false
		}
		in := map[string]string{}
		for name, ref := range b.Inputs {
			field, isInput := strings.CutPrefix(ref, "inputs.")
			if !isInput {
				return nil, false
			}
			in[name] = inputs[field]
		}
		bp := b.Name
		if path != "" {
			bp = path + "/" + b.Name
		}
		ls, ok := leaves(sub, bp, in)
		if !ok {
			return nil, false
		}
		out = append(out, ls...)
	}
	return out, true
}

// takenPath is the path of branches the routed run of item i took ("" when it failed before the
// first router).
func takenPath(s compiler.Scores, i int, p *plans.Plan) string {
	if i >= len(s.Traces) || s.Traces[i] == nil {
		return ""
	}
	var parts []string
	run := s.Traces[i]
	for run != nil && p != nil {
		id, _, _ := strings.Cut(p.Output, ".")
		n := p.Node(id)
		if n == nil || n.Router == nil {
			break
		}
		var rt *trace.Route
		for _, tn := range run.Nodes {
			if tn != nil && tn.ID == id && tn.Route != nil {
				rt = tn.Route
			}
		}
		if rt == nil || rt.Branch == "" {
			break
		}
		parts = append(parts, rt.Branch)
		b := n.Router.Branch(rt.Branch)
		if b == nil {
			break
		}
		p, run = b.SubPlan(), rt.Run
	}
	return strings.Join(parts, "/")
}

// routerOutcome fills out's branch counts and misrouting for the routed plan: every plan it can
// end in (each branch, through nested routers) is run alone on the family's test items; an item
// is routable when some of them get it right and another wrong, misrouted when the routers led
// it to one that gets it wrong (or the run failed before reaching one).
func routerOutcome(ctx context.Context, cfg MixtureConfig, p *plans.Plan, f family, routed compiler.Scores, out *FamilyOutcome) error {
	if len(p.Routers()) == 0 {
		return nil
	}
	top := map[string]string{}
	for _, in := range p.Inputs {
		top[in.Name] = in.Name
	}
	ls, ok := leaves(p, "", top)
	if !ok || len(ls) < 2 {
		return nil
	}
	right := map[string][]bool{}
	for _, l := range ls {
		items := make([]runtime.Item, len(f.tst))
		for i, it := range f.tst {
			in := map[string]any{}
			for name, field := range l.inputs {
				in[name] = it.Inputs[field]
			}
			items[i] = runtime.Item{ID: it.ID, Inputs: in, Label: it.Label}
		}
		s, err := compiler.Evaluate(ctx, cfg.Runner, l.plan, items, f.metric, cfg.Workers, nil)
		if err != nil {
			return fmt.Errorf("mixture: evaluate branch %s on %s: %w", l.path, f.name, err)
		}
		right[l.path] = s.Bits()
	}
	out.Branches = map[string]int{}
	for i := range routed.Results {
		took := takenPath(routed, i, p)
		out.Branches[took]++
		some, all := false, true
		for _, bits := range right {
			some = some || bits[i]
			all = all && bits[i]
		}
		if !some || all {
			continue
		}
		out.Routable++
		if bits, ok := right[took]; !ok || !bits[i] {
			out.Misrouted++
		}
	}
	return nil
}

// splitEvidence replays the routed compile's log: from the starting plan, each round's accepted
// edit makes the next round's incumbent (until a routed plan is accepted, which edits cannot
// replay), and
// every candidate with at least splitMin held-out wins and losses is scored against its
// incumbent on each family's training and held-out items. The router stage's own verdicts are
// collected as logged.
func splitEvidence(ctx context.Context, cfg MixtureConfig, initial *plans.Plan, fams []family, dir string, res *MixtureResult) error {
	evs, err := compiler.ReadLog(dir)
	if err != nil {
		return fmt.Errorf("mixture: %w", err)
	}
	// Every candidate of a round is compared with the round's incumbent; the accepted one
	// becomes the incumbent when the round ends.
	inc, next, replay := initial, (*plans.Plan)(nil), true
	for _, ev := range evs {
		if ev.Kind == compiler.EventRound && next != nil {
			inc, next = next, nil
		}
		if ev.Kind != compiler.EventCandidate {
			continue
		}
		routing := ev.RouterAccuracy != nil || ev.RoutableAccuracy != nil || (len(ev.Edits) == 0 && len(ev.Summary) > 0 && strings.HasPrefix(ev.Summary[0], "route"))
		if routing {
			res.Routing = append(res.Routing, fmt.Sprintf("iteration %d: %s: %s", ev.Iteration, strings.Join(ev.Summary, "; "), ev.Reason))
		}
		accepted := ev.Accepted != nil && *ev.Accepted
		if !replay || len(ev.Edits) == 0 {
			if accepted {
				replay = false
			}
			continue
		}
		cand, err := edit.Apply(inc, ev.Edits...)
		if err != nil {
			replay = false
			continue
		}
		if ev.Wins >= splitMin && ev.Losses >= splitMin {
			sc := SplitCandidate{Iteration: ev.Iteration, Candidate: ev.Candidate, Summary: strings.Join(ev.Summary, "; "), Wins: ev.Wins, Losses: ev.Losses}
			for _, f := range fams {
				fs := FamilySplit{Family: f.name}
				for _, part := range []struct {
					items        []runtime.Item
					wins, losses *int
				}{{f.train, &fs.TrainWins, &fs.TrainLosses}, {f.held, &fs.HeldWins, &fs.HeldLosses}} {
					a, err := compiler.Evaluate(ctx, cfg.Runner, cand, part.items, f.metric, cfg.Workers, nil)
					if err != nil {
						return fmt.Errorf("mixture: split candidate on %s: %w", f.name, err)
					}
					b, err := compiler.Evaluate(ctx, cfg.Runner, inc, part.items, f.metric, cfg.Workers, nil)
					if err != nil {
						return fmt.Errorf("mixture: split candidate's incumbent on %s: %w", f.name, err)
					}
					pr, err := pairOf(a.Bits(), b.Bits())
					if err != nil {
						return err
					}
					*part.wins, *part.losses = pr.Wins, pr.Losses
				}
				sc.PerFamily = append(sc.PerFamily, fs)
			}
			res.Splits = append(res.Splits, sc)
		}
		if accepted {
			next = cand
		}
	}
	return nil
}
