package demo

import (
	"context"
	"fmt"

	"os"
	"path/filepath"
	"time"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/report"
	"github.com/sgde-project/sgde/compiler/task"
	"github.com/sgde-project/sgde/internal/simulator"
	"github.com/sgde-project/sgde/runtime/trace"
)

// GSMOptions are the GSM-Hard demo's settings.
type GSMOptions struct {
	// Dir is the output folder: replaced (an earlier demo's only) unless Resume.
	Dir    string
	Resume bool
	// Data is the GSM-Hard file split into Train, Heldout and Test items with Seed.
	Data, Task, Suspects string
	Train, Heldout, Test int
	Iterations           int
	Actions              string
	Seed                 int64
	Quiet                bool
	// Env runs the compile: its runner assembly, writers and progress display.
	Env report.Env
	// Color renders the traces with colours (stdout is a terminal).
	Color bool
}

// GSM runs the GSM-Hard demo: it starts the simulated student, splits the data (or resumes),
// compiles the zero-shot plan with the library teacher, prints whether the compiled plan's
// interval separates from the baselines', then runs the compiled plan on two test questions
// and renders their traces. previous is where an earlier demo's output was set aside: it is
// removed once the compile has finished, and kept (for the caller to name) when it has not.
func GSM(ctx context.Context, o GSMOptions) (previous string, err error) {
	stdout, stderr := o.Env.Stdout, o.Env.Stderr
	start := time.Now()
	kpath, err := simulator.LocateDefaultKnowledge()
	if err != nil {
		return "", fmt.Errorf("demo: %w (run it from the repository)", err)
	}
	k, err := simulator.LoadKnowledgeFile(kpath)
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	student, err := StartStudent(ctx, k)
	if err != nil {
		return "", fmt.Errorf("demo: %w", err)
	}
	defer student.Close()
	fmt.Fprintf(stdout, "Student: %s, simulated in-process at %s (the student is simulated, not a language model).\n", student.Model(), student.URL())

	var inv report.Invocation
	if o.Resume {
		if inv, err = report.LoadInvocation(o.Dir); err != nil {
			return "", err
		}
		if err := inv.CheckPinned(); err != nil {
			return "", err
		}
		inv.StudentURL = student.URL()
	} else {
		// The previous demo is moved aside, not deleted, until this one has finished.
		if previous, err = report.SetAsideDemo(o.Dir); err != nil {
			return "", err
		}
		if inv, err = newGSMInvocation(o, student); err != nil {
			return previous, err
		}
	}
	out, runner, release, err := report.Compile(ctx, inv, o.Dir, o.Resume, o.Env)
	defer release()
	if err != nil {
		return previous, err
	}
	if previous != "" {
		if err := os.RemoveAll(previous); err != nil {
			fmt.Fprintf(stderr, "demo: could not remove the previous demo in %s: %v\n", previous, err)
		}
		previous = ""
	}
	rows := out.Rows
	if len(rows) == 3 {
		fmt.Fprintf(stdout, "compiled vs zero-shot: 95%% intervals %s; compiled vs few-shot: %s\n",
			overlap(report.Separated(rows[2], rows[0])), overlap(report.Separated(rows[2], rows[1])))
	}
	fmt.Fprintln(stdout, "\nThe compiled plan on two test questions:")
	for i := 0; i < 2 && i < len(out.EvalSet); i++ {
		it := out.EvalSet[i]
		res, err := runner.Run(ctx, out.Result.Plan, it.Inputs)
		if res == nil || res.Trace == nil {
			return "", fmt.Errorf("demo: run item %s: %v", it.ID, err)
		}
		res.Trace.ID = it.ID
		fmt.Fprintf(stdout, "\n--- item %s (expected %v)\n", it.ID, it.Label)
		if err := trace.Render(stdout, res.Trace, trace.RenderOptions{Width: 160, Color: o.Color}); err != nil {
			return "", err
		}
	}
	fmt.Fprintf(stdout, "\ndemo finished in %.1fs\n", time.Since(start).Seconds())
	return "", nil
}

// newGSMInvocation marks the fresh output folder as a demo's, splits the data into it and
// pins the compile's invocation.
func newGSMInvocation(o GSMOptions, student *Student) (report.Invocation, error) {
	dataDir := filepath.Join(o.Dir, "data")
	if err := report.MarkDemo(o.Dir); err != nil {
		return report.Invocation{}, err
	}
	if err := os.MkdirAll(dataDir, 0o755); err != nil {
		return report.Invocation{}, fmt.Errorf("demo: %w", err)
	}
	paths, err := task.Split(o.Data, dataDir, o.Seed, o.Train, o.Heldout, o.Test)
	if err != nil {
		return report.Invocation{}, &report.InputError{Err: fmt.Errorf("demo: %w", err)}
	}
	inv := report.Invocation{
		Task: o.Task, Train: paths[0], Heldout: paths[1], Test: paths[2], Suspects: o.Suspects,
		Teacher: "library", StudentURL: student.URL(), StudentModel: student.Model(), Actions: o.Actions,
		K: 3, MinDelta: 0.01, Alpha: 0.05, Patience: 1, Iterations: o.Iterations, Seed: o.Seed,
		Probe: 8, Workers: 8, Simulated: true,
	}
	if _, err := edit.ParseActions(inv.Actions); err != nil {
		return inv, &report.InputError{Setting: "--actions", Err: err}
	}
	return inv, inv.Pin()
}

func overlap(separated bool) string {
	if separated {
		return "do not overlap"
	}
	return "overlap"
}
