package demo

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/sgde-project/sgde/compiler/experiment"
	"github.com/sgde-project/sgde/compiler/report"
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/internal/simulator"
)

// fileExperimentMarker marks a folder as a study's output, whose finished runs a new start
// reuses.
const fileExperimentMarker = ".sgde-experiment"

// ExperimentOptions are the settings of a learning-curve study.
type ExperimentOptions struct {
	// Task and Data are the task file and the JSONL data split once into pool, held-out and test.
	Task, Data string
	// Dir is the output folder; "" means out/experiment-TASK.
	Dir string
	// StudentURL and StudentModel name a student endpoint; without a URL the student is the
	// in-process simulator, knowing Data's items and any reference programs beside it.
	StudentURL, StudentModel string
	Sizes                    []int
	Seeds, Heldout, Test     int
	Workers                  int
	Seed                     int64
	Ablation                 bool
	// Teacher carries the teacher settings (Teacher, TeacherModel, TeacherBudget).
	Teacher report.Invocation
	// Env's NewRunner assembles the runner; Stdout gets the table, Stderr the progress.
	Env report.Env
}

// Experiment runs the study of package compiler/experiment: it claims the output folder,
// starts the simulated student unless a URL is given, and writes the report and the table.
func Experiment(ctx context.Context, o ExperimentOptions) error {
	stdout, stderr := o.Env.Stdout, o.Env.Stderr
	taskName := strings.TrimSuffix(filepath.Base(o.Task), filepath.Ext(o.Task))
	dir := o.Dir
	if dir == "" {
		dir = filepath.Join("out", "experiment-"+taskName)
	}
	if err := claimExperimentDir(dir); err != nil {
		return err
	}
	url, model := o.StudentURL, o.StudentModel
	simulated := url == ""
	if simulated {
		// The simulator knows the data's items (and their recorded answers) and, for families
		// that have them, reference programs beside the data.
		files := []string{o.Data}
		for _, sub := range []string{"programs", "extractions"} {
			refs, _ := filepath.Glob(filepath.Join(filepath.Dir(o.Data), sub, taskName+".jsonl"))
			files = append(files, refs...)
		}
		k, err := simulator.LoadKnowledgeFiles(files...)
		if err != nil {
			return fmt.Errorf("experiment: %w", err)
		}
		st, err := StartStudent(ctx, k)
		if err != nil {
			return fmt.Errorf("experiment: %w", err)
		}
		defer st.Close()
		url, model = st.URL(), st.Model()
		fmt.Fprintf(stdout, "Student: %s, simulated in-process at %s; %d of its %d known items have a real model's recorded answers (the figures test sgde, not a language model).\n",
			model, url, k.WithRecorded(), k.Len())
	}
	runner, release, err := OpenRunner(ctx, dir, url, model, o.Env.NewRunner)
	defer release()
	if err != nil {
		return err
	}
	student := model
	if simulated {
		student += " (simulated; recorded answers where the data has them)"
	}
	inv := o.Teacher
	teacherName := inv.Teacher
	if inv.TeacherModel != "" {
		teacherName += " (" + inv.TeacherModel + ")"
	}
	st, err := experiment.Run(ctx, experiment.Config{
		Task: o.Task, Data: o.Data, Dir: dir, Runner: runner, Student: student, Simulated: simulated,
		TeacherName: teacherName, Teacher: func() teacher.Teacher { t, _ := inv.NewTeacher(); return t },
		Sizes: o.Sizes, Seeds: o.Seeds, Heldout: o.Heldout, Test: o.Test, Seed: o.Seed,
		Workers: o.Workers, Ablation: o.Ablation,
		Progress: func(line string) {
			if !o.Env.Quiet {
				fmt.Fprintf(stderr, "experiment: %s\n", line)
			}
		},
	})
	if st != nil && len(st.Runs) > 0 {
		if werr := st.WriteReport(dir); werr != nil && err == nil {
			err = werr
		}
		fmt.Fprintln(stdout)
		if terr := st.WriteTable(stdout); terr != nil && err == nil {
			err = terr
		}
		fmt.Fprintf(stdout, "report: %s\n", filepath.Join(dir, experiment.FileReport))
	}
	if err != nil {
		if ctx.Err() != nil {
			return fmt.Errorf("experiment interrupted (%v); run the same command again to continue (finished runs in %s are kept)", err, filepath.Join(dir, "runs"))
		}
		return err
	}
	fmt.Fprintf(stdout, "experiment finished in %.1fs\n", st.Seconds)
	return nil
}

// ParseSizes reads a comma-separated list of positive training sizes.
func ParseSizes(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		n, err := strconv.Atoi(f)
		if err != nil || n < 1 {
			return nil, fmt.Errorf("%q is not a positive size", f)
		}
		out = append(out, n)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("no sizes")
	}
	return out, nil
}

// claimExperimentDir creates dir for a study, refusing a non-empty folder that is not an
// earlier study's (whose runs a new start reuses).
func claimExperimentDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if err == nil && len(entries) > 0 {
		if _, err := os.Stat(filepath.Join(dir, fileExperimentMarker)); err != nil {
			return &report.InputError{Err: fmt.Errorf("experiment: %s is not empty and is not an earlier experiment's output (no %s): choose another -o", dir, fileExperimentMarker)}
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, fileExperimentMarker), []byte("written by sgde experiment; finished runs are reused by the next start\n"), 0o644); err != nil {
		return fmt.Errorf("experiment: %w", err)
	}
	return nil
}
