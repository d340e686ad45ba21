// Package suite compiles and evaluates several task families in one go: per family the starting
// plan, its chain-of-thought variant, a few-shot bootstrap and the compiled plan are scored on
// items the compiler never saw, with the plan shape the compiler chose, student calls per item,
// the share of recorded student answers and the compile cost. `sgde demo --suite` is a thin
// shell around Run, WriteTable and WriteHTML.
package suite

import (
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
	"github.com/sgde-project/sgde/compiler/pac"
	"github.com/sgde-project/sgde/compiler/report"
	"github.com/sgde-project/sgde/compiler/stats"
	"github.com/sgde-project/sgde/compiler/task"
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/trace"
)

// Family is one task family of the suite: its task file and its data.
type Family struct {
	Name string `json:"name"`
	Task string `json:"task"`
	Data string `json:"data"`
}

// Discover lists the families whose task files are in tasksDir (NAME.yaml) and whose data are
// dataDir/NAME.jsonl, sorted by name; only names in keep are kept when keep is not empty.
func Discover(tasksDir, dataDir string, keep []string) ([]Family, error) {
	files, err := filepath.Glob(filepath.Join(tasksDir, "*.yaml"))
	if err != nil {
		return nil, fmt.Errorf("suite: %w", err)
	}
	want, missing := map[string]bool{}, map[string]bool{}
	for _, k := range keep {
		want[k], missing[k] = true, true
	}
	var out []Family
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".yaml")
		if len(want) > 0 && !want[name] {
			continue
		}
		delete(missing, name)
		data := filepath.Join(dataDir, name+".jsonl")
		if _, err := os.Stat(data); err != nil {
			return nil, fmt.Errorf("suite: family %s: %w", name, err)
		}
		out = append(out, Family{Name: name, Task: f, Data: data})
	}
	if len(missing) > 0 {
		var names []string
		for k := range missing {
			names = append(names, k)
		}
		sort.Strings(names)
		return nil, fmt.Errorf("%w: %s (not in %s)", ErrUnknownFamily, strings.Join(names, ", "), tasksDir)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("suite: no task files in %s", tasksDir)
	}
	return out, nil
}

// ErrUnknownFamily is returned by Discover for a --families name without a task file.
var ErrUnknownFamily = errors.New("unknown family")

// Config configures a suite run.
type Config struct {
	Families []Family
	// Dir holds one folder per family (the compile's checkpoint, log, report and plan, and
	// result.json) and the suite's table and HTML page.
	Dir    string
	Runner compiler.Runner
	// Student names the student for provenance.
	Student string
	// Train, Heldout and Test are the sizes of each family's split (default 50 each); items are
	// shuffled with Seed first.
	Train, Heldout, Test int
	Seed                 int64
	// Workers bounds the items evaluated at once (default 8).
	Workers int
	// Resume keeps the families whose result.json exists.
	Resume bool
	// Ablation also compiles each family with one kind of edit at a time (prompt only,
	// offload only, consensus only, split+fuse only) and scores those plans on the test split.
	Ablation bool
	// Progress, when set, receives one line per step.
	Progress func(string)
	// Teacher makes the teacher of each compile (default: the library teacher).
	Teacher func() teacher.Teacher
}

// Ablation is one restricted compile of a family: the plan it reached with only some actions.
type Ablation struct {
	Name     string  `json:"name"`
	Shape    string  `json:"shape"`
	Accuracy float64 `json:"accuracy"`
	CallsPer float64 `json:"student_calls_per_item"`
	Recorded string  `json:"recorded_share"`
	// Answers counts the student answers behind Accuracy by source.
	Answers trace.Sources `json:"student_answers"`
	// Correct and N are the test answers behind Accuracy.
	Correct int `json:"correct"`
	N       int `json:"n"`
	// Compile cost of the restricted compile.
	StudentCalls  int64 `json:"compile_student_calls"`
	TeacherTokens int64 `json:"compile_teacher_tokens"`
}

// ablations are the restricted action sets, in table order.
var ablations = []struct {
	name    string
	allowed []edit.Action
}{
	{"prompt only", []edit.Action{edit.RefinePrompt}},
	{"offload only", []edit.Action{edit.Offload}},
	{"consensus only", []edit.Action{edit.Consensus}},
	{"split+fuse only", []edit.Action{edit.Split, edit.Fuse}},
}

// Result is one family's line of the suite table.
type Result struct {
	Family string `json:"family"`
	// Rows: zero-shot, chain of thought, few-shot bootstrap, compiled; on the test split.
	Rows []report.Row `json:"rows"`
	// Shape is the compiled plan's shape, e.g. "code", "llm(cot)", "consensus(llm→code)",
	// "llm(extract)→code".
	Shape string `json:"shape"`
	// Best names the best baseline on the test split; PValue is the exact McNemar p-value of
	// the compiled plan against it, with the discordant pairs.
	Best   string  `json:"best_baseline"`
	PValue float64 `json:"p_value"`
	Wins   int     `json:"wins"`
	Losses int     `json:"losses"`
	// Worse is set when the compiled plan is below the best baseline with p <= 0.05.
	Worse   bool    `json:"worse"`
	Stop    string  `json:"stop_reason"`
	Seconds float64 `json:"seconds"`
	// PlanYAML is the compiled plan, for the HTML page.
	PlanYAML string `json:"plan_yaml"`
	// Ablations are the restricted compiles (Config.Ablation), then "all" (the compiled plan).
	Ablations []Ablation `json:"ablations,omitempty"`
	// PAC is the compiled plan's sample bound and whether the training items meet it;
	// Iterations counts the compile's teacher rounds.
	PAC        pac.Report `json:"pac"`
	Iterations int        `json:"iterations"`
}

const fileResult = "result.json"

func (c *Config) defaults() {
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

// Run compiles and evaluates every family in order and returns their results. A family that
// fails stops the run with its error (the results of the families before it are returned and
// saved, so --resume continues after it).
func Run(ctx context.Context, cfg Config) ([]Result, error) {
	cfg.defaults()
	if cfg.Runner == nil || cfg.Dir == "" || len(cfg.Families) == 0 {
		return nil, errors.New("suite: families, a runner and an output directory are required")
	}
	var out []Result
	for i, f := range cfg.Families {
		dir := filepath.Join(cfg.Dir, f.Name)
		if cfg.Resume {
			if r, err := loadResult(dir); err == nil {
				cfg.Progress(fmt.Sprintf("[%d/%d] %s: done earlier (%s)", i+1, len(cfg.Families), f.Name, r.Shape))
				out = append(out, r)
				continue
			}
		}
		cfg.Progress(fmt.Sprintf("[%d/%d] %s: compiling", i+1, len(cfg.Families), f.Name))
		r, err := runFamily(ctx, cfg, f, dir)
		if err != nil {
			return out, fmt.Errorf("family %s: %w", f.Name, err)
		}
		out = append(out, r)
		c := r.Rows[len(r.Rows)-1]
		cfg.Progress(fmt.Sprintf("[%d/%d] %s: %s, %.1f%% on %d unseen items (best baseline %s %.1f%%), %.2f student calls/item, %s recorded, %.0fs",
			i+1, len(cfg.Families), f.Name, r.Shape, 100*c.Accuracy, c.N, r.Best, 100*bestRow(r).Accuracy, c.CallsPer, c.RecordedText(), r.Seconds))
	}
	return out, nil
}

func loadResult(dir string) (Result, error) {
	b, err := os.ReadFile(filepath.Join(dir, fileResult))
	if err != nil {
		return Result{}, err
	}
	var r Result
	if err := json.Unmarshal(b, &r); err != nil || len(r.Rows) == 0 {
		return Result{}, fmt.Errorf("suite: %s: unreadable result", dir)
	}
	return r, nil
}

// Split shuffles items with seed and cuts the three splits.
func Split(items []runtime.Item, seed int64, nTrain, nHeld, nTest int) (train, held, test []runtime.Item, err error) {
	if len(items) < nTrain+nHeld+nTest {
		return nil, nil, nil, fmt.Errorf("%d items, the split needs %d", len(items), nTrain+nHeld+nTest)
	}
	s := append([]runtime.Item(nil), items...)
	r := rand.New(rand.NewPCG(uint64(seed), 0x5eed))
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s[:nTrain], s[nTrain : nTrain+nHeld], s[nTrain+nHeld : nTrain+nHeld+nTest], nil
}

func runFamily(ctx context.Context, cfg Config, f Family, dir string) (Result, error) {
	start := time.Now()
	tk, err := task.Load(f.Task)
	if err != nil {
		return Result{}, err
	}
	initial, err := plans.Load(tk.PlanPath())
	if err != nil {
		return Result{}, fmt.Errorf("initial plan: %w", err)
	}
	if initial, err = compiler.Inline(initial); err != nil {
		return Result{}, err
	}
	items, err := tk.ReadItemsFile(f.Data)
	if err != nil {
		return Result{}, err
	}
	train, held, test, err := Split(items, cfg.Seed, cfg.Train, cfg.Heldout, cfg.Test)
	if err != nil {
		return Result{}, err
	}
	return RunSplit(ctx, cfg, f.Name, tk, initial, train, held, test, dir, start)
}

// RunSplit compiles initial (inlined) on train and held, scores it, its chain-of-thought
// variant, its few-shot bootstrap and the compiled plan (and with cfg.Ablation the restricted
// compiles) on test, and saves the result as dir/result.json. Only cfg's Runner, Student, Seed,
// Workers, Ablation and Teacher are used; start is when the caller's work on it began.
func RunSplit(ctx context.Context, cfg Config, name string, tk *task.Task, initial *plans.Plan, train, held, test []runtime.Item, dir string, start time.Time) (Result, error) {
	cfg.defaults()
	var err error
	m := tk.Scoring()
	compileDir := filepath.Join(dir, "compile")
	if err := os.RemoveAll(compileDir); err != nil {
		return Result{}, err
	}
	res, err := compiler.Compile(ctx, compiler.Config{
		Initial: initial, Train: train, Heldout: held, Metric: m, Teacher: cfg.Teacher(), Runner: cfg.Runner,
		Dir: compileDir, Seed: cfg.Seed, Student: cfg.Student, Epsilon: tk.Epsilon, Delta: tk.Delta, Workers: cfg.Workers,
	})
	if err != nil {
		return Result{}, fmt.Errorf("compile: %w", err)
	}
	compileSeconds := time.Since(start).Seconds()

	// Baselines, all on the test split.
	cot := initial
	var cotEdits []edit.Edit
	for _, n := range initial.Nodes {
		if e, ok := teacher.ChainOfThought(n); ok {
			cotEdits = append(cotEdits, e)
		}
	}
	if len(cotEdits) > 0 {
		if cot, err = edit.Apply(initial, cotEdits...); err != nil {
			return Result{}, fmt.Errorf("chain-of-thought baseline: %w", err)
		}
	}
	fsStart := time.Now()
	fewShot, fsCalls, err := compiler.Bootstrapped(ctx, cfg.Runner, initial, train, m, cfg.Workers)
	fsSeconds := time.Since(fsStart).Seconds()
	if err != nil {
		return Result{}, err
	}
	var rows []report.Row
	var bits [][]bool
	for _, b := range []struct {
		name string
		p    *plans.Plan
	}{{"zero-shot", initial}, {"chain of thought", cot}, {"few-shot bootstrap", fewShot}, {"sgde compiled", res.Plan}} {
		s, err := compiler.Evaluate(ctx, cfg.Runner, b.p, test, m, cfg.Workers, nil)
		if err != nil {
			return Result{}, fmt.Errorf("evaluate %s: %w", b.name, err)
		}
		row := report.RowOf(b.name, s, nil)
		switch b.name {
		case "few-shot bootstrap":
			row.CompileStudentCalls, row.CompileSeconds = fsCalls, fsSeconds
		case "sgde compiled":
			row.CompileTeacherTokens, row.CompileStudentCalls, row.CompileSeconds = res.State.TeacherTokens, res.State.StudentCalls, compileSeconds
		}
		rows = append(rows, row)
		bits = append(bits, s.Bits())
	}
	var abl []Ablation
	if cfg.Ablation {
		for _, a := range ablations {
			ar, err := compiler.Compile(ctx, compiler.Config{
				Initial: initial, Train: train, Heldout: held, Metric: m, Teacher: cfg.Teacher(), Runner: cfg.Runner,
				Dir: filepath.Join(dir, "ablation-"+strings.ReplaceAll(a.name, " ", "-")), Seed: cfg.Seed, Student: cfg.Student,
				Epsilon: tk.Epsilon, Delta: tk.Delta, Workers: cfg.Workers, Allowed: a.allowed,
			})
			if err != nil {
				return Result{}, fmt.Errorf("ablation %s: %w", a.name, err)
			}
			s, err := compiler.Evaluate(ctx, cfg.Runner, ar.Plan, test, m, cfg.Workers, nil)
			if err != nil {
				return Result{}, fmt.Errorf("ablation %s: %w", a.name, err)
			}
			row := report.RowOf(a.name, s, nil)
			abl = append(abl, Ablation{Name: a.name, Shape: Shape(ar.Plan), Accuracy: row.Accuracy, CallsPer: row.CallsPer, Recorded: row.RecordedText(),
				Answers: row.Answers, Correct: row.Correct, N: row.N, StudentCalls: ar.State.StudentCalls, TeacherTokens: ar.State.TeacherTokens})
		}
		c := rows[3]
		abl = append(abl, Ablation{Name: "all", Shape: Shape(res.Plan), Accuracy: c.Accuracy, CallsPer: c.CallsPer, Recorded: c.RecordedText(),
			Answers: c.Answers, Correct: c.Correct, N: c.N})
	}
	best := 0
	for i := 1; i < 3; i++ {
		if rows[i].Accuracy > rows[best].Accuracy {
			best = i
		}
	}
	pr, err := stats.Pair(bits[3], bits[best])
	if err != nil {
		return Result{}, err
	}
	p := stats.McNemarExact(pr.OnlyA, pr.OnlyB)
	y, err := plans.Marshal(res.Plan, plans.FormatYAML)
	if err != nil {
		return Result{}, err
	}
	r := Result{
		Family: name, Rows: rows, Shape: Shape(res.Plan), Best: rows[best].Name, PValue: p,
		Wins: pr.OnlyA, Losses: pr.OnlyB, Worse: pr.OnlyB > pr.OnlyA && p <= 0.05, Stop: res.StopReason,
		Seconds: time.Since(start).Seconds(), PlanYAML: string(y), Ablations: abl,
		PAC: res.PAC, Iterations: res.State.Iteration,
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return Result{}, err
	}
	if err := os.WriteFile(filepath.Join(dir, fileResult), append(b, '\n'), 0o644); err != nil {
		return Result{}, fmt.Errorf("write result: %w", err)
	}
	return r, nil
}

func bestRow(r Result) report.Row {
	for _, row := range r.Rows {
		if row.Name == r.Best {
			return row
		}
	}
	return report.Row{}
}

// Shape describes a plan's structure; it is compiler.Shape (kept here for the suite's callers).
func Shape(p *plans.Plan) string { return compiler.Shape(p) }
