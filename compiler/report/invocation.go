package report

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sgde-project/sgde/compiler"
	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/task"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
)

// Files of a compile's output folder written before the compile starts.
const (
	// FileInvocation records what the compile was started with, for resuming it.
	FileInvocation = "invocation.json"
	// FileDemoMarker marks a folder as a demo's output, which a later demo may replace.
	FileDemoMarker = ".sgde-demo"
)

// Invocation is everything a compile was started with. It is saved in the output folder so
// that a resume continues with the same settings. Secrets are never saved: API keys come from
// the environment on every start.
type Invocation struct {
	Task          string  `json:"task"`
	Train         string  `json:"train"`
	Heldout       string  `json:"heldout"`
	Test          string  `json:"test,omitempty"`
	Suspects      string  `json:"suspects,omitempty"`
	Teacher       string  `json:"teacher"`
	TeacherModel  string  `json:"teacher_model,omitempty"`
	TeacherBudget int64   `json:"teacher_budget_tokens,omitempty"`
	StudentURL    string  `json:"student_url"`
	StudentModel  string  `json:"student_model"`
	Actions       string  `json:"actions"`
	K             int     `json:"k"`
	MinDelta      float64 `json:"min_delta"`
	Alpha         float64 `json:"alpha"`
	Patience      int     `json:"patience"`
	Iterations    int     `json:"iterations"`
	BudgetCalls   int64   `json:"budget_student_calls,omitempty"`
	BudgetWall    string  `json:"budget_wall,omitempty"`
	Seed          int64   `json:"seed"`
	Probe         int     `json:"probe"`
	Workers       int     `json:"workers"`
	// NoRouters disables the compiler's routers (the monolithic ablation).
	NoRouters bool `json:"no_routers,omitempty"`
	// Simulated means the student is the in-process simulator (started again on resume).
	Simulated bool `json:"simulated,omitempty"`
	// Digests are the sha256 of every input file (task, data, suspects) by path when the
	// compile started: a resume on files that changed since is refused.
	Digests map[string]string `json:"digests,omitempty"`
}

// InputError is a problem with what the caller gave (a file named by a setting that cannot be
// read or parsed, a bad setting, a folder that is not a demo's), as opposed to a failure.
type InputError struct {
	// Setting names what was wrong, as the CLI spells it ("--train"), or "".
	Setting string
	Err     error
}

// Error prefixes the setting.
func (e *InputError) Error() string {
	if e.Setting == "" {
		return e.Err.Error()
	}
	return e.Setting + ": " + e.Err.Error()
}

// Unwrap returns the underlying error.
func (e *InputError) Unwrap() error { return e.Err }

func inputErr(setting string, err error) error { return &InputError{Setting: setting, Err: err} }

// Check refuses an invocation of a new compile (output is its folder) that lacks a required
// setting or has one out of range, before any file is read. Every error is an *InputError
// naming the settings as the CLI spells them.
func (inv Invocation) Check(output string) error {
	var missing []string
	for _, f := range []struct{ name, v string }{{"--task", inv.Task}, {"--train", inv.Train}, {"--heldout", inv.Heldout},
		{"--student-url", inv.StudentURL}, {"--student-model", inv.StudentModel}, {"-o", output}} {
		if f.v == "" {
			missing = append(missing, f.name)
		}
	}
	if len(missing) > 0 {
		return inputErr("", fmt.Errorf("missing %s (or --resume DIR)", strings.Join(missing, ", ")))
	}
	if err := inv.CheckTeacher(); err != nil {
		return err
	}
	if _, err := edit.ParseActions(inv.Actions); err != nil {
		return inputErr("--actions", err)
	}
	if inv.K < 1 || inv.Iterations < 1 || inv.Patience < 1 || inv.Probe < 1 || inv.Workers < 1 {
		return inputErr("", errors.New("--candidates, --iterations, --patience, --probe and --workers must be at least 1"))
	}
	if inv.MinDelta < 0 || inv.MinDelta >= 1 || !(inv.Alpha > 0 && inv.Alpha <= 1) {
		return inputErr("", errors.New("--min-delta must lie in [0, 1) and --alpha in (0, 1]"))
	}
	return nil
}

// CheckTeacher refuses a teacher endpoint without a model name (an *InputError); the offline
// teachers need none.
func (inv Invocation) CheckTeacher() error {
	if !OfflineTeacher(inv.Teacher) && inv.TeacherModel == "" {
		return inputErr("", fmt.Errorf("--teacher %s needs --teacher-model", inv.Teacher))
	}
	return nil
}

// Pin makes the invocation's file paths absolute, so that a resume works from any folder, and
// records the files' digests.
func (inv *Invocation) Pin() error {
	inv.Digests = map[string]string{}
	for _, p := range []*string{&inv.Task, &inv.Train, &inv.Heldout, &inv.Test, &inv.Suspects} {
		if *p == "" {
			continue
		}
		abs, err := filepath.Abs(*p)
		if err != nil {
			return fmt.Errorf("invocation: %w", err)
		}
		*p = abs
		d, err := fileDigest(abs)
		if err != nil {
			return inputErr("", err)
		}
		inv.Digests[abs] = d
	}
	return nil
}

// CheckPinned refuses to resume when an input file changed since the compile started.
func (inv Invocation) CheckPinned() error {
	for path, want := range inv.Digests {
		got, err := fileDigest(path)
		if err != nil {
			return fmt.Errorf("resume: %w", err)
		}
		if got != want {
			return fmt.Errorf("resume: %s changed since the compile started (digest %s, now %s): resuming would mix results of different data; start a new compile", path, want, got)
		}
	}
	return nil
}

func fileDigest(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", fmt.Errorf("read %s: %w", path, err)
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil)), nil
}

// Save writes the invocation into dir, refusing a folder that already holds a compile.
func (inv Invocation) Save(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, compiler.FileState)); err == nil {
		return inputErr("", fmt.Errorf("%s already holds a compile: continue it with --resume %s or choose another -o", dir, dir))
	}
	b, err := json.MarshalIndent(inv, "", "  ")
	if err == nil {
		err = os.WriteFile(filepath.Join(dir, FileInvocation), append(b, '\n'), 0o644)
	}
	if err != nil {
		return fmt.Errorf("save invocation: %w", err)
	}
	return nil
}

// LoadInvocation reads the invocation saved in dir.
func LoadInvocation(dir string) (Invocation, error) {
	var inv Invocation
	b, err := os.ReadFile(filepath.Join(dir, FileInvocation))
	if err != nil {
		return inv, fmt.Errorf("resume %s: %w", dir, err)
	}
	if err := json.Unmarshal(b, &inv); err != nil {
		return inv, fmt.Errorf("resume %s: %s is corrupt: %w", dir, FileInvocation, err)
	}
	return inv, nil
}

// Job reads the invocation's task, initial plan and data and returns the job for the output
// folder dir, with everything but the parts that reach outside (Config.Teacher, Runner and
// Ledger, progress reporting), which the caller adds. Problems with the files or settings are
// *InputError.
func (inv Invocation) Job(dir string, resume bool) (Job, error) {
	tk, err := task.Load(inv.Task)
	if err != nil {
		return Job{}, inputErr("", err)
	}
	initial, err := plans.Load(tk.PlanPath())
	if err != nil {
		return Job{}, fmt.Errorf("initial plan: %w", err)
	}
	if initial, err = compiler.Inline(initial); err != nil {
		return Job{}, err
	}
	job := Job{Task: tk.Name, Resume: resume, Simulated: inv.Simulated}
	cfg := compiler.Config{
		Initial: initial, Metric: tk.Scoring(), Dir: dir, K: inv.K, MinDelta: inv.MinDelta, Alpha: inv.Alpha,
		Patience: inv.Patience, Iterations: inv.Iterations, BudgetTeacherTokens: inv.TeacherBudget,
		BudgetStudentCalls: inv.BudgetCalls, Epsilon: tk.Epsilon, Delta: tk.Delta, Probe: inv.Probe,
		Workers: inv.Workers, Seed: inv.Seed, Student: inv.StudentModel, RoutersOff: inv.NoRouters,
	}
	if inv.Simulated {
		cfg.Student = inv.StudentModel + " (simulated)"
	}
	for _, d := range []struct {
		setting, path string
		to            *[]runtime.Item
	}{{"--train", inv.Train, &cfg.Train}, {"--heldout", inv.Heldout, &cfg.Heldout}, {"--test", inv.Test, &job.Test}} {
		if d.path == "" {
			continue
		}
		if *d.to, err = tk.ReadItemsFile(d.path); err != nil {
			return Job{}, inputErr(d.setting, err)
		}
	}
	if inv.Suspects != "" {
		f, err := os.Open(inv.Suspects)
		if err != nil {
			return Job{}, inputErr("--suspects", err)
		}
		job.Suspects, err = runtime.ReadSuspects(f)
		f.Close()
		if err != nil {
			return Job{}, inputErr("--suspects", err)
		}
	}
	if cfg.Allowed, err = edit.ParseActions(inv.Actions); err != nil {
		return Job{}, inputErr("--actions", err)
	}
	if inv.BudgetWall != "" {
		if cfg.BudgetWall, err = time.ParseDuration(inv.BudgetWall); err != nil {
			return Job{}, inputErr("--budget-wall", err)
		}
	}
	if dir == "" {
		return Job{}, inputErr("", errors.New("no output directory"))
	}
	job.Config = cfg
	return job, nil
}

// ClearDemo empties dir for a new demo. It deletes only what an earlier demo wrote: a folder
// that is not empty and holds no demo marker is refused (an *InputError), so that a mistyped -o
// can never wipe a user's files.
func ClearDemo(dir string) error {
	if empty, err := demoFolder(dir); empty || err != nil {
		return err
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("demo: clear %s: %w", dir, err)
	}
	return nil
}

// SetAsideDemo moves an earlier demo's output in dir to a sibling folder, so that a new demo
// starts empty without destroying the old one before it has anything to replace it with. It
// returns that folder ("" when there was nothing to move). Like ClearDemo it refuses a folder
// that is not a demo's.
func SetAsideDemo(dir string) (string, error) {
	if empty, err := demoFolder(dir); empty || err != nil {
		return "", err
	}
	prev := filepath.Clean(dir) + ".previous"
	if err := ClearDemo(prev); err != nil {
		return "", err
	}
	if err := os.Rename(dir, prev); err != nil {
		return "", fmt.Errorf("demo: set the previous demo aside: %w", err)
	}
	return prev, nil
}

// MarkDemo creates dir as a demo's output folder.
func MarkDemo(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, FileDemoMarker), []byte("written by sgde demo; sgde demo may replace this folder\n"), 0o644); err != nil {
		return fmt.Errorf("demo: %w", err)
	}
	return nil
}

// demoFolder reports whether dir is missing or empty, and refuses a non-empty folder without
// the demo marker.
func demoFolder(dir string) (empty bool, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) || (err == nil && len(entries) == 0) {
		return true, nil
	}
	if err != nil {
		return false, fmt.Errorf("demo: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, FileDemoMarker)); err != nil {
		return false, inputErr("", fmt.Errorf("demo: %s is not empty and is not an earlier demo's output (no %s): choose another -o", dir, FileDemoMarker))
	}
	return false, nil
}
