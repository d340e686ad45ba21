package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/sgde-project/sgde/compiler"
	"github.com/sgde-project/sgde/compiler/suite"
	"github.com/sgde-project/sgde/internal/simulator"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/urfave/cli/v2"
)

const fileSuiteMarker = ".sgde-suite"

// runSuite is `sgde demo --suite NAME`: the families of testdata/tasks/NAME, each compiled and
// evaluated against the in-process simulator (which knows every family's items and their
// recorded answers); the work is in package compiler/suite.
func runSuite(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("demo takes no arguments, got %q", c.Args().First())
	}
	name := c.String("suite")
	if strings.ContainsAny(name, `/\.`) {
		return usagef("--suite %q: want a folder name under testdata/tasks, e.g. bbh", name)
	}
	var keep []string
	for _, f := range strings.Split(c.String("families"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			keep = append(keep, f)
		}
	}
	fams, err := suite.Discover(filepath.Join("testdata", "tasks", name), filepath.Join("testdata", name), keep)
	if err != nil {
		if errors.Is(err, suite.ErrUnknownFamily) {
			return usagef("--families: %v", err)
		}
		return fmt.Errorf("demo --suite: %w (run it from the repository)", err)
	}
	dir := c.String("output")
	if !c.IsSet("output") {
		dir = filepath.Join("out", "suite-"+name)
	}
	if !c.Bool("resume") {
		if err := clearSuiteDir(dir); err != nil {
			return err
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("demo --suite: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, fileSuiteMarker), []byte("written by sgde demo --suite; it may replace this folder\n"), 0o644); err != nil {
		return fmt.Errorf("demo --suite: %w", err)
	}
	var data []string
	for _, f := range fams {
		data = append(data, f.Data)
	}
	// Reference programs generated for some families (testdata/NAME/programs) complete the
	// simulator's knowledge of those items: program-aided requests for them are simulated.
	progs, _ := filepath.Glob(filepath.Join("testdata", name, "programs", "*.jsonl"))
	data = append(data, progs...)
	k, err := simulator.LoadKnowledgeFiles(data...)
	if err != nil {
		return fmt.Errorf("demo --suite: %w", err)
	}
	ctx := c.Context
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	simCtx, stopSim := context.WithCancel(ctx)
	defer stopSim()
	scfg := simulator.NewConfig(k, simulator.DefaultProfile()).WithLatencyScale(0)
	srv, err := simulator.Start(simCtx, "127.0.0.1:0", scfg)
	if err != nil {
		return fmt.Errorf("demo --suite: start simulator: %w", err)
	}
	defer srv.Close()
	fmt.Fprintf(stdout, "Student: %s, simulated in-process at %s; %d of its %d known items have a real model's recorded answers, replayed for answer-only and step-by-step prompts.\n",
		scfg.ModelName(), srv.URL(), k.WithRecorded(), k.Len())
	cc, err := cache.Open(filepath.Join(dir, compiler.FileCache), 5*time.Second)
	if err != nil {
		return fmt.Errorf("response cache: %w", err)
	}
	defer cc.Close()
	client, err := llm.New(llm.NewConfig(srv.URL(), scfg.ModelName()).WithConcurrency(8))
	if err != nil {
		return err
	}
	runner, release, err := newRunner(ctx, runtime.Options{Student: client, Model: scfg.ModelName(), Cache: cc,
		CacheMode: cache.ModeUse, Concurrency: 16}, string(plans.EngineWazero), nil)
	if err != nil {
		return err
	}
	defer release()
	start := time.Now()
	progress := func(line string) {
		if !c.Bool("quiet") {
			fmt.Fprintf(stderr, "suite: %s\n", line)
		}
	}
	results, err := suite.Run(ctx, suite.Config{
		Families: fams, Dir: dir, Runner: runner, Student: scfg.ModelName() + " (simulated; recorded answers where the data has them)",
		Seed: c.Int64("seed"), Resume: c.Bool("resume"), Ablation: c.Bool("ablation"), Progress: progress,
	})
	if len(results) > 0 {
		if werr := writeSuite(dir, results); werr != nil && err == nil {
			err = werr
		}
		fmt.Fprintln(stdout)
		if terr := suite.WriteTable(stdout, results); terr != nil && err == nil {
			err = terr
		}
		if c.Bool("ablation") {
			fmt.Fprintln(stdout, "\nAblation (test split; each compile may use only these edits):")
			if terr := suite.WriteAblation(stdout, results); terr != nil && err == nil {
				err = terr
			}
		}
		fmt.Fprintf(stdout, "page: %s\n", filepath.Join(dir, "suite.html"))
	}
	if err != nil {
		if ctx.Err() != nil {
			fam := ""
			if len(keep) > 0 {
				fam = " --families " + strings.Join(keep, ",")
			}
			return fmt.Errorf("suite interrupted (%v); continue with: sgde demo --suite %s%s --resume -o %s", err, name, fam, dir)
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
		return usagef("demo --suite: %s is not empty and is not an earlier suite's output (no %s): choose another -o", dir, fileSuiteMarker)
	}
	if err := os.RemoveAll(dir); err != nil {
		return fmt.Errorf("demo --suite: clear %s: %w", dir, err)
	}
	return nil
}
