package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/compiler"
	"github.com/sgde-project/sgde/compiler/experiment"
	"github.com/sgde-project/sgde/compiler/report"
	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/internal/simulator"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
)

const fileExperimentMarker = ".sgde-experiment"

func experimentCommand() *cli.Command {
	return &cli.Command{
		Name:  "experiment",
		Usage: "learning curve of the compiled plan against training size, with baselines, ablations and the PAC bound",
		UsageText: "sgde experiment [--task T.yaml --data D.jsonl] [--sizes 8,16,32 | --full] [--seeds 2] [-o DIR]\n" +
			"                [--student-url U --student-model M] [--teacher library|URL --teacher-model M]\n\n" +
			"Splits the data once (fixed --seed) into a training pool, a held-out batch and a test set;\n" +
			"compiles at every training size with --seeds seeds; scores zero-shot, chain of thought,\n" +
			"few-shot bootstrap, the compiled plan and (unless --ablation=false) prompt-only, offload-only\n" +
			"and consensus-only compiles on the same test set. Every run is saved in DIR/runs; a new start\n" +
			"with the same settings skips the runs already done. Writes DIR/experiment.html and .txt.\n" +
			"Without --student-url the student is sgde's simulator (recorded answers where the data has\n" +
			"them): its figures test sgde, not a language model. See docs/EXPERIMENTS.md.\n\n" +
			"Example:\n   sgde experiment --task testdata/tasks/bbh/navigate.yaml --data testdata/bbh/navigate.jsonl",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "task", Value: filepath.Join("testdata", "tasks", "gsm-hard.yaml"), Usage: "task file"},
			&cli.StringFlag{Name: "data", Value: filepath.Join("testdata", "gsm-hard", "slice.jsonl"), Usage: "JSONL data to split"},
			&cli.StringFlag{Name: "sizes", Value: "8,16,32", Usage: "comma-separated training sizes (sizes above the pool are dropped)"},
			&cli.BoolFlag{Name: "full", Usage: "the full study: sizes 8,16,32,64,128 (overrides --sizes)"},
			&cli.IntFlag{Name: "seeds", Value: 2, Usage: "runs per size, each with its own training draw and compile seed"},
			&cli.IntFlag{Name: "heldout", Value: 40, Usage: "held-out items (accept or reject candidates)"},
			&cli.IntFlag{Name: "test", Value: 50, Usage: "test items every plan is scored on"},
			&cli.Int64Flag{Name: "seed", Value: 7, Usage: "split seed; run i of a size uses seed+i"},
			&cli.BoolFlag{Name: "ablation", Value: true, Usage: "also compile with prompt edits only, offload only, consensus only"},
			&cli.StringFlag{Name: "student-url", EnvVars: []string{"SGDE_STUDENT_URL"}, Usage: "OpenAI-compatible student endpoint (default: the in-process simulator)"},
			&cli.StringFlag{Name: "student-model", EnvVars: []string{"SGDE_STUDENT_MODEL"}, Usage: "student model name (with --student-url)"},
			&cli.StringFlag{Name: "teacher", Value: "library", Usage: "library, library+synth, synth or the base URL of an OpenAI-compatible teacher"},
			&cli.StringFlag{Name: "teacher-model", Usage: "teacher model name (URL teachers)"},
			&cli.Int64Flag{Name: "budget-teacher-tokens", Usage: "per compile: stop when the teacher has used this many tokens (0: unlimited)"},
			&cli.IntFlag{Name: "workers", Value: 8, Usage: "items evaluated at once"},
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output directory (default out/experiment-TASK)"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"},
		},
		Action: runExperiment,
	}
}

func runExperiment(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("experiment takes no arguments, got %q", c.Args().First())
	}
	sizes := experiment.FullSizes
	if !c.Bool("full") {
		var err error
		if sizes, err = parseSizes(c.String("sizes")); err != nil {
			return usagef("--sizes: %v", err)
		}
	}
	if c.Int("seeds") < 1 || c.Int("heldout") < 1 || c.Int("test") < 1 || c.Int("workers") < 1 {
		return usagef("--seeds, --heldout, --test and --workers must be at least 1")
	}
	url, model := c.String("student-url"), c.String("student-model")
	if url != "" && model == "" {
		return usagef("--student-url needs --student-model")
	}
	inv := report.Invocation{Teacher: c.String("teacher"), TeacherModel: c.String("teacher-model"), TeacherBudget: c.Int64("budget-teacher-tokens")}
	if !report.OfflineTeacher(inv.Teacher) && inv.TeacherModel == "" {
		return usagef("--teacher %s needs --teacher-model", inv.Teacher)
	}
	if _, err := inv.NewTeacher(); err != nil {
		return inputError(err)
	}
	taskName := strings.TrimSuffix(filepath.Base(c.String("task")), filepath.Ext(c.String("task")))
	dir := c.String("output")
	if dir == "" {
		dir = filepath.Join("out", "experiment-"+taskName)
	}
	if err := claimExperimentDir(dir); err != nil {
		return err
	}
	ctx := c.Context
	stdout, stderr := c.App.Writer, c.App.ErrWriter
	simulated := url == ""
	if simulated {
		// The simulator knows the data's items (and their recorded answers) and, for families
		// that have them, reference programs beside the data.
		files := []string{c.String("data")}
		progs, _ := filepath.Glob(filepath.Join(filepath.Dir(c.String("data")), "programs", taskName+".jsonl"))
		k, err := simulator.LoadKnowledgeFiles(append(files, progs...)...)
		if err != nil {
			return fmt.Errorf("experiment: %w", err)
		}
		simCtx, stopSim := context.WithCancel(ctx)
		defer stopSim()
		scfg := simulator.NewConfig(k, simulator.DefaultProfile()).WithLatencyScale(0)
		srv, err := simulator.Start(simCtx, "127.0.0.1:0", scfg)
		if err != nil {
			return fmt.Errorf("experiment: start simulator: %w", err)
		}
		defer srv.Close()
		url, model = srv.URL(), scfg.ModelName()
		fmt.Fprintf(stdout, "Student: %s, simulated in-process at %s; %d of its %d known items have a real model's recorded answers (the figures test sgde, not a language model).\n",
			model, url, k.WithRecorded(), k.Len())
	}
	cc, err := cache.Open(filepath.Join(dir, compiler.FileCache), 5*time.Second)
	if err != nil {
		return fmt.Errorf("response cache: %w", err)
	}
	defer cc.Close()
	client, err := llm.New(llm.NewConfig(url, model).WithAPIKey(os.Getenv("SGDE_STUDENT_API_KEY")).WithConcurrency(8))
	if err != nil {
		return usagef("student: %v", err)
	}
	runner, release, err := newRunner(ctx, runtime.Options{Student: client, Model: model, Cache: cc,
		CacheMode: cache.ModeUse, Concurrency: 16}, string(plans.EngineWazero), nil)
	if err != nil {
		return err
	}
	defer release()
	student := model
	if simulated {
		student += " (simulated; recorded answers where the data has them)"
	}
	teacherName := inv.Teacher
	if inv.TeacherModel != "" {
		teacherName += " (" + inv.TeacherModel + ")"
	}
	st, err := experiment.Run(ctx, experiment.Config{
		Task: c.String("task"), Data: c.String("data"), Dir: dir, Runner: runner, Student: student, Simulated: simulated,
		TeacherName: teacherName, Teacher: func() teacher.Teacher { t, _ := inv.NewTeacher(); return t },
		Sizes: sizes, Seeds: c.Int("seeds"), Heldout: c.Int("heldout"), Test: c.Int("test"), Seed: c.Int64("seed"),
		Workers: c.Int("workers"), Ablation: c.Bool("ablation"),
		Progress: func(line string) {
			if !c.Bool("quiet") {
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

func parseSizes(s string) ([]int, error) {
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
			return usagef("experiment: %s is not empty and is not an earlier experiment's output (no %s): choose another -o", dir, fileExperimentMarker)
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
