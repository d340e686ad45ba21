package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sgde-project/sgde/compiler/report"
	"github.com/sgde-project/sgde/compiler/suite"
	"github.com/sgde-project/sgde/internal/simulator"
	"github.com/sgde-project/sgde/runtime"
)

// fileSuiteMarker marks a folder as a suite's output, which a new suite run may replace.
const fileSuiteMarker = ".sgde-suite"

// SuiteOptions are the settings of a suite run.
type SuiteOptions struct {
	// Name is the folder under testdata/tasks (and testdata) holding the families, e.g. bbh.
	Name string
	// Families keeps only these families; none means all.
	Families []string
	// Dir is the output folder (replaced, an earlier suite's only, unless Resume).
	Dir                     string
	Seed                    int64
	Resume, Ablation, Quiet bool
	// Env's NewRunner assembles the runner; Stdout gets the tables, Stderr the progress.
	Env report.Env
}

// Suite compiles and evaluates each family of testdata/tasks/NAME against the in-process
// simulator (which knows every family's items and their recorded answers), and writes the
// table (DIR/suite.txt) and the page (DIR/suite.html). The work per family is package
// compiler/suite's.
func Suite(ctx context.Context, o SuiteOptions) error {
	stdout, stderr := o.Env.Stdout, o.Env.Stderr
	if strings.ContainsAny(o.Name, `/\.`) {
		return &report.InputError{Err: fmt.Errorf("--suite %q: want a folder name under testdata/tasks, e.g. bbh", o.Name)}
	}
	if strings.HasPrefix(o.Name, "mixture") {
		return Mixture(ctx, o)
	}
	fams, err := suite.Discover(filepath.Join("testdata", "tasks", o.Name), filepath.Join("testdata", o.Name), o.Families)
	if err != nil {
		if errors.Is(err, suite.ErrUnknownFamily) {
			return &report.InputError{Setting: "--families", Err: err}
		}
		return fmt.Errorf("demo --suite: %w (run it from the repository)", err)
	}
	if !o.Resume {
		if err := clearSuiteDir(o.Dir); err != nil {
			return err
		}
	}
	var data []string
	for _, f := range fams {
		data = append(data, f.Data)
	}
	// Reference programs and extractions generated for some families (testdata/NAME/programs,
	// testdata/NAME/extractions) complete the simulator's knowledge of those items:
	// program-aided and extraction requests for them are simulated.
	for _, sub := range []string{"programs", "extractions"} {
		refs, _ := filepath.Glob(filepath.Join("testdata", o.Name, sub, "*.jsonl"))
		data = append(data, refs...)
	}
	student, runner, release, err := startSuiteStudent(ctx, o, "demo --suite", data)
	defer release()
	if err != nil {
		return err
	}
	start := time.Now()
	progress := func(line string) {
		if !o.Quiet {
			fmt.Fprintf(stderr, "suite: %s\n", line)
		}
	}
	results, err := suite.Run(ctx, suite.Config{
		Families: fams, Dir: o.Dir, Runner: runner, Student: student.Model() + " (simulated; recorded answers where the data has them)",
		Seed: o.Seed, Resume: o.Resume, Ablation: o.Ablation, Progress: progress,
	})
	if len(results) > 0 {
		if werr := writeSuite(o.Dir, results); werr != nil && err == nil {
			err = werr
		}
		fmt.Fprintln(stdout)
		if terr := suite.WriteTable(stdout, results); terr != nil && err == nil {
			err = terr
		}
		if o.Ablation {
			fmt.Fprintln(stdout, "\nAblation (test split; each compile may use only these edits):")
			if terr := suite.WriteAblation(stdout, results); terr != nil && err == nil {
				err = terr
			}
		}
		fmt.Fprintf(stdout, "page: %s\n", filepath.Join(o.Dir, "suite.html"))
	}
	if err != nil {
		if ctx.Err() != nil {
			fam := ""
			if len(o.Families) > 0 {
				fam = " --families " + strings.Join(o.Families, ",")
			}
			return fmt.Errorf("suite interrupted (%v); continue with: sgde demo --suite %s%s --resume -o %s", err, o.Name, fam, o.Dir)
		}
		return err
	}
	fmt.Fprintf(stdout, "suite finished in %.1fs\n", time.Since(start).Seconds())
	return nil
}

func writeSuite(dir string, results []suite.Result) error {
	var b strings.Builder
	if err := suite.WriteTable(&b, results); err != nil {
		return err
	}
	b.WriteString("\n")
	if err := suite.WriteAblation(&b, results); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "suite.txt"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("write suite table: %w", err)
	}
	f, err := os.Create(filepath.Join(dir, "suite.html"))
	if err != nil {
		return fmt.Errorf("write suite page: %w", err)
	}
	if err := suite.WriteHTML(f, results); err != nil {
		f.Close()
		return fmt.Errorf("write suite page: %w", err)
	}
	return f.Close()
}

// clearSuiteDir empties dir for a new suite run, but only when it is an earlier suite's output.
func clearSuiteDir(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) || (err == nil && len(entries) == 0) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("demo --suite: %w", err)
	}
	if _, err := os.Stat(filepath.Join(dir, fileSuiteMarker)); err != nil {
		return &report.InputError{Err: fmt.Errorf("demo --suite: %s is not empty and is not an earlier suite's output (no %s): choose another -o", dir, fileSuiteMarker)}
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("demo --suite: clear %s: %w", dir, err)
	}
	return nil
}

// startSuiteStudent prepares o.Dir for a suite run (created, marked as the suite's so a later
// run may replace it), starts the in-process student on the knowledge files, says on stdout
// what it knows, and opens a runner on o.Dir's response cache. release closes the runner and
// stops the student; it is set even on error. what prefixes errors ("demo --suite").
func startSuiteStudent(ctx context.Context, o SuiteOptions, what string, knowledge []string) (student *Student, runner *runtime.Runner, release func(), err error) {
	release = func() {}
	if err := os.MkdirAll(o.Dir, 0o755); err != nil {
		return nil, nil, release, fmt.Errorf("%s: %w", what, err)
	}
	if err := os.WriteFile(filepath.Join(o.Dir, fileSuiteMarker), []byte("written by sgde demo --suite; it may replace this folder\n"), 0o644); err != nil {
		return nil, nil, release, fmt.Errorf("%s: %w", what, err)
	}
	k, err := simulator.LoadKnowledgeFiles(knowledge...)
	if err != nil {
		return nil, nil, release, fmt.Errorf("%s: %w", what, err)
	}
	student, err = StartStudent(ctx, k)
	if err != nil {
		return nil, nil, release, fmt.Errorf("%s: %w", what, err)
	}
	fmt.Fprintf(o.Env.Stdout, "Student: %s, simulated in-process at %s; %d of its %d known items have a real model's recorded answers, replayed for answer-only and step-by-step prompts.\n",
		student.Model(), student.URL(), k.WithRecorded(), k.Len())
	runner, closeRunner, err := OpenRunner(ctx, o.Dir, student.URL(), student.Model(), o.Env.NewRunner)
	release = func() {
		closeRunner()
		student.Close()
	}
	if err != nil {
		return nil, nil, release, err
	}
	return student, runner, release, nil
}
