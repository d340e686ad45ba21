package demo

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/sgde-project/sgde/compiler"
	"github.com/sgde-project/sgde/compiler/report"
	"github.com/sgde-project/sgde/compiler/suite"
)

// Mixture is `sgde demo --suite mixture` (or mixture-NAME): the families of
// testdata/tasks/mixture.yaml (or mixture-NAME.yaml) mixed
// and compiled once with routers and once without, beside the zero-shot plan and each family
// compiled alone, against the in-process simulator; the table goes to stdout and DIR/mixture.txt.
// The work is package compiler/suite's.
func Mixture(ctx context.Context, o SuiteOptions) error {
	stdout, stderr := o.Env.Stdout, o.Env.Stderr
	if o.Resume || o.Ablation {
		return &report.InputError{Err: fmt.Errorf("--suite %s takes neither --resume nor --ablation (the whole run takes a few minutes)", o.Name)}
	}
	file := filepath.Join("testdata", "tasks", o.Name+".yaml")
	if _, err := os.Stat(file); err != nil {
		return &report.InputError{Err: fmt.Errorf("--suite %s: no mixture file %s", o.Name, file)}
	}
	mix, err := suite.LoadMixture(file, o.Families)
	if err != nil {
		if errors.Is(err, suite.ErrUnknownFamily) || errors.Is(err, suite.ErrTooFewFamilies) {
			return &report.InputError{Setting: "--families", Err: err}
		}
		return fmt.Errorf("demo --suite %s: %w (run it from the repository)", o.Name, err)
	}
	if err := clearSuiteDir(o.Dir); err != nil {
		return err
	}
	files, err := mix.KnowledgeFiles()
	if err != nil {
		return fmt.Errorf("demo --suite mixture: %w", err)
	}
	student, runner, release, err := startSuiteStudent(ctx, o, "demo --suite mixture", files)
	defer release()
	if err != nil {
		return err
	}
	res, err := suite.RunMixture(ctx, suite.MixtureConfig{
		Mixture: mix, Dir: o.Dir, Runner: runner, Student: student.Model() + " (simulated; recorded answers where the data has them)",
		CompileRunner: func(ctx context.Context, dir string) (compiler.Runner, func(), error) {
			r, release, err := OpenRunner(ctx, dir, student.URL(), student.Model(), o.Env.NewRunner)
			return r, release, err
		},
		Seed: o.Seed, Progress: func(line string) {
			if !o.Quiet {
				fmt.Fprintf(stderr, "mixture: %s\n", line)
			}
		},
	})
	if err != nil {
		return err
	}
	var b strings.Builder
	if err := suite.WriteMixture(&b, res); err != nil {
		return err
	}
	fmt.Fprintf(&b, "mixture finished in %.1fs\n", res.Seconds)
	if err := os.WriteFile(filepath.Join(o.Dir, "mixture.txt"), []byte(b.String()), 0o644); err != nil {
		return fmt.Errorf("demo --suite mixture: %w", err)
	}
	_, err = fmt.Fprint(stdout, "\n"+b.String())
	return err
}
