// Package experiment runs the paper's study on one task: a learning curve of the compiled plan
// against training-set size, with several seeds per size, beside the baselines (zero-shot, chain
// of thought, few-shot bootstrap) and the ablations (prompt only, offload only, consensus only, split+fuse only),
// all scored on one fixed test set, and set against the PAC sample bound of the compiled plans.
// Each (size, seed) run is a suite.RunSplit saved on disk, so an interrupted study resumes where
// it stopped. `sgde experiment` is a thin shell around Run and WriteReport.
package experiment

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/sgde-project/sgde/compiler"
	"github.com/sgde-project/sgde/compiler/suite"
	"github.com/sgde-project/sgde/compiler/task"
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
)

// DefaultSizes are the training sizes of a quick study; FullSizes those of the paper-like one.
var (
	DefaultSizes = []int{8, 16, 32}
	FullSizes    = []int{8, 16, 32, 64, 128}
)

// Config configures a study.
type Config struct {
	// Task and Data are the task file and its JSONL data.
	Task, Data string
	// Dir holds one folder per run (runs/n<size>-s<seed>) and the study's report.
	Dir    string
	Runner compiler.Runner
	// Student names the student for provenance and the report; Simulated says it is sgde's
	// simulator (the report then says its figures are no evidence about real models).
	Student   string
	Simulated bool
	// TeacherName names the teacher in the report; Teacher makes one per compile (default: the
	// library teacher).
	TeacherName string
	Teacher     func() teacher.Teacher
	// Sizes are the training sizes (sizes above the pool are dropped); Seeds the runs per size.
	Sizes []int
	Seeds int
	// Heldout and Test are the sizes of the fixed held-out batch and test set (default 40, 50);
	// the pool of training items is the rest.
	Heldout, Test int
	// Seed fixes the split; run i of a size draws its training items and compiles with Seed+i.
	Seed    int64
	Workers int
	// Ablation also runs the restricted compiles in every run.
	Ablation bool
	// Progress, when set, receives one line per step.
	Progress func(string)
}

// Trial is one compile of the study and its scores on the test set.
type Trial struct {
	Size int   `json:"size"`
	Seed int64 `json:"seed"`
	// Key identifies the inputs; a saved run whose key differs is run again.
	Key    string       `json:"key"`
	Result suite.Result `json:"result"`
}

// Study is everything the report shows.
type Study struct {
	Task, Student, Teacher string
	Simulated              bool
	Sizes                  []int
	Seeds                  int
	Pool, Heldout, Test    int
	// Epsilon and Delta are the task's PAC target.
	Epsilon, Delta float64
	Runs           []Trial
	Seconds        float64
}

const fileRun = "run.json"

func (c *Config) defaults() {
	if len(c.Sizes) == 0 {
		c.Sizes = DefaultSizes
	}
	if c.Seeds <= 0 {
		c.Seeds = 2
	}
	if c.Heldout <= 0 {
		c.Heldout = 40
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
	if c.TeacherName == "" {
		c.TeacherName = "library"
	}
}

// ErrNoSizes is returned when no training size fits the data after the held-out and test cut.
var ErrNoSizes = errors.New("experiment: no training size fits the data")

// Run runs every (size, seed) of the study in order, skipping runs saved earlier with the same
// inputs, and returns the study. A failing run stops the study with its error; the runs before
// it are returned (and stay on disk for the next start).
func Run(ctx context.Context, cfg Config) (*Study, error) {
	cfg.defaults()
	start := time.Now()
	if cfg.Runner == nil || cfg.Dir == "" || cfg.Task == "" || cfg.Data == "" {
		return nil, errors.New("experiment: a task, data, a runner and an output directory are required")
	}
	tk, err := task.Load(cfg.Task)
	if err != nil {
		return nil, err
	}
	initial, err := plans.Load(tk.PlanPath())
	if err != nil {
		return nil, fmt.Errorf("initial plan: %w", err)
	}
	if initial, err = compiler.Inline(initial); err != nil {
		return nil, err
	}
	items, err := tk.ReadItemsFile(cfg.Data)
	if err != nil {
		return nil, err
	}
	poolN := len(items) - cfg.Heldout - cfg.Test
	var sizes []int
	for _, n := range cfg.Sizes {
		if n > 0 && n <= poolN {
			sizes = append(sizes, n)
		}
	}
	if len(sizes) == 0 {
		return nil, fmt.Errorf("%w: %d items leave %d for training after %d held-out and %d test", ErrNoSizes, len(items), poolN, cfg.Heldout, cfg.Test)
	}
	sort.Ints(sizes)
	pool, held, test, err := suite.Split(items, cfg.Seed, poolN, cfg.Heldout, cfg.Test)
	if err != nil {
		return nil, err
	}
	digest, err := inputsDigest(cfg.Task, cfg.Data, tk.PlanPath())
	if err != nil {
		return nil, err
	}
	st := &Study{Task: tk.Name, Student: cfg.Student, Teacher: cfg.TeacherName, Simulated: cfg.Simulated, Sizes: sizes,
		Seeds: cfg.Seeds, Pool: len(pool), Heldout: len(held), Test: len(test), Epsilon: tk.Epsilon, Delta: tk.Delta}
	total, done := len(sizes)*cfg.Seeds, 0
	for _, n := range sizes {
		for i := 0; i < cfg.Seeds; i++ {
			done++
			seed := cfg.Seed + int64(i)
			key := fmt.Sprintf("%s size=%d seed=%d split=%d heldout=%d test=%d ablation=%t student=%s teacher=%s", digest, n, seed,
				cfg.Seed, cfg.Heldout, cfg.Test, cfg.Ablation, cfg.Student, cfg.TeacherName)
			dir := filepath.Join(cfg.Dir, "runs", fmt.Sprintf("n%03d-s%d", n, seed))
			tag := fmt.Sprintf("[%d/%d] %s n=%d seed=%d", done, total, tk.Name, n, seed)
			if r, err := loadRun(dir); err == nil && r.Key == key {
				cfg.Progress(fmt.Sprintf("%s: done earlier (%s, %.1f%%)", tag, r.Result.Shape, 100*r.Result.Rows[3].Accuracy))
				st.Runs = append(st.Runs, r)
				continue
			}
			if err := os.RemoveAll(dir); err != nil {
				return st, fmt.Errorf("experiment: %w", err)
			}
			if err := os.MkdirAll(dir, 0o755); err != nil {
				return st, fmt.Errorf("experiment: %w", err)
			}
			cfg.Progress(tag + ": compiling")
			// From the whole pool, whatever the sizes asked for: a run's items depend only on its
			// size and seed (so a saved run stays valid when sizes are added), and one seed's
			// draws are nested (its 8 items are the first 8 of its 16).
			train := draw(pool, n, seed)
			res, err := suite.RunSplit(ctx, suite.Config{Runner: cfg.Runner, Student: cfg.Student, Seed: seed, Workers: cfg.Workers,
				Ablation: cfg.Ablation, Teacher: cfg.Teacher}, tk.Name, tk, initial, train, held, test, dir, time.Now())
			if err != nil {
				return st, fmt.Errorf("run n=%d seed=%d: %w", n, seed, err)
			}
			r := Trial{Size: n, Seed: seed, Key: key, Result: res}
			if err := saveRun(dir, r); err != nil {
				return st, err
			}
			st.Runs = append(st.Runs, r)
			c := res.Rows[3]
			cfg.Progress(fmt.Sprintf("%s: %s, %.1f%% on %d test items (zero-shot %.1f%%), stopped: %s; %s of student answers recorded, %.0fs",
				tag, res.Shape, 100*c.Accuracy, c.N, 100*res.Rows[0].Accuracy, res.Stop, c.RecordedText(), res.Seconds))
		}
	}
	st.Seconds = time.Since(start).Seconds()
	return st, nil
}

// draw is n training items of the pool, chosen with seed (the same seed always draws the same
// items, so a resumed run compiles on what it compiled on before).
func draw(pool []runtime.Item, n int, seed int64) []runtime.Item {
	s := append([]runtime.Item(nil), pool...)
	r := rand.New(rand.NewPCG(uint64(seed), 0xd7a3))
	r.Shuffle(len(s), func(i, j int) { s[i], s[j] = s[j], s[i] })
	return s[:n]
}

func inputsDigest(paths ...string) (string, error) {
	h := sha256.New()
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", fmt.Errorf("experiment: %w", err)
		}
		fmt.Fprintf(h, "%s %d\n", filepath.Base(p), len(b))
		h.Write(b)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))[:16], nil
}

func loadRun(dir string) (Trial, error) {
	var r Trial
	b, err := os.ReadFile(filepath.Join(dir, fileRun))
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(b, &r); err != nil || len(r.Result.Rows) != 4 {
		return Trial{}, fmt.Errorf("experiment: %s: unreadable run", dir)
	}
	return r, nil
}

func saveRun(dir string, r Trial) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, fileRun+".tmp")
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("experiment: save run: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, fileRun)); err != nil {
		return fmt.Errorf("experiment: save run: %w", err)
	}
	return nil
}
