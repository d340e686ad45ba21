package report

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sgde-project/sgde/compiler"
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
)

// OfflineTeacher reports whether a teacher setting names one of the library teacher's modes
// rather than an endpoint.
func OfflineTeacher(name string) bool {
	return name == "library" || name == "library+synth" || name == "synth"
}

// NewTeacher returns the invocation's teacher: a library mode, or an OpenAI-compatible
// endpoint whose API key is read from SGDE_TEACHER_API_KEY. A bad setting is an *InputError.
func (inv Invocation) NewTeacher() (teacher.Teacher, error) {
	switch inv.Teacher {
	case "library":
		return teacher.NewLibrary(), nil
	case "library+synth":
		return teacher.Library{Synthesis: true}, nil
	case "synth":
		return teacher.Library{Synthesis: true, NoCatalogue: true}, nil
	}
	if !strings.HasPrefix(inv.Teacher, "http://") && !strings.HasPrefix(inv.Teacher, "https://") {
		return nil, inputErr("", fmt.Errorf("--teacher must be library, library+synth, synth or an http(s) URL, got %q", inv.Teacher))
	}
	cl, err := llm.New(llm.NewConfig(inv.Teacher, inv.TeacherModel).WithAPIKey(os.Getenv("SGDE_TEACHER_API_KEY")).
		WithTimeout(5 * time.Minute).WithConcurrency(1))
	if err != nil {
		return nil, inputErr("teacher", err)
	}
	return teacher.NewLLM(cl, inv.TeacherModel, inv.TeacherBudget), nil
}

// Env is what a compile takes from the command that starts it.
type Env struct {
	// NewRunner assembles the runner from opts (student, cache and model filled in) with the
	// sandbox engine the caller's engine rules choose; release closes it, not the cache or the
	// client.
	NewRunner func(ctx context.Context, opts runtime.Options) (_ *runtime.Runner, release func(), err error)
	// Stdout gets the baselines table; Stderr the progress display and warnings.
	Stdout, Stderr io.Writer
	// Quiet turns the progress display off; Terminal draws it as a bar.
	Quiet, Terminal bool
}

// Compile runs the compile inv describes in dir, resuming its checkpoint when resume is set:
// it reads the task and data, opens the folder's response cache and request ledger, the
// student client (API key from SGDE_STUDENT_API_KEY) and the teacher, and runs Run with a
// progress display. It returns the runner too, for callers that go on running the compiled
// plan; release closes the runner, the ledger and the cache, and must be called even on error.
// A setting or file the caller gave that is wrong is an *InputError.
func Compile(ctx context.Context, inv Invocation, dir string, resume bool, env Env) (_ *Outcome, _ *runtime.Runner, release func(), err error) {
	release = func() {}
	job, err := inv.Job(dir, resume)
	if err != nil {
		return nil, nil, release, err
	}
	job.Out = env.Stdout
	cfg := &job.Config
	if cfg.Teacher, err = inv.NewTeacher(); err != nil {
		return nil, nil, release, err
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, nil, release, fmt.Errorf("output directory: %w", err)
	}
	if !resume {
		if err := inv.Save(dir); err != nil {
			return nil, nil, release, err
		}
	}
	cc, err := cache.Open(filepath.Join(dir, compiler.FileCache), 5*time.Second)
	if err != nil {
		return nil, nil, release, fmt.Errorf("response cache: %w", err)
	}
	cc.WarnMovedAside(env.Stderr, filepath.Join(dir, compiler.FileCache))
	ledger, err := compiler.OpenLedger(dir)
	if err != nil {
		cc.Close()
		return nil, nil, release, err
	}
	release = func() { ledger.Close(); cc.Close() }
	client, err := llm.New(llm.NewConfig(inv.StudentURL, inv.StudentModel).
		WithAPIKey(os.Getenv("SGDE_STUDENT_API_KEY")).WithConcurrency(8).WithOnSend(ledger.Add))
	if err != nil {
		return nil, nil, release, inputErr("student", err)
	}
	r, closeRunner, err := env.NewRunner(ctx, runtime.Options{Student: client, Model: inv.StudentModel, Cache: cc,
		CacheMode: cache.ModeUse, Concurrency: 16})
	if err != nil {
		return nil, nil, release, err
	}
	release = func() { closeRunner(); ledger.Close(); cc.Close() }
	cfg.Runner, cfg.Ledger = r, ledger
	prog := NewProgress(env.Stderr, env.Quiet, env.Terminal)
	cfg.Progress, cfg.Tick, job.Phase = prog.Event, prog.Tick, prog.Phase
	out, err := Run(ctx, job)
	prog.Done()
	return out, r, release, err
}
