package main

import (
	"path/filepath"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/compiler/experiment"
	"github.com/sgde-project/sgde/compiler/report"
	"github.com/sgde-project/sgde/internal/demo"
)

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
			&cli.BoolFlag{Name: "ablation", Value: true, Usage: "also compile with only one kind of edit each (the suite's ablations: prompt, offload, consensus, split+fuse)"},
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
		if sizes, err = demo.ParseSizes(c.String("sizes")); err != nil {
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
	if err := inv.CheckTeacher(); err != nil {
		return inputError(err)
	}
	if _, err := inv.NewTeacher(); err != nil {
		return inputError(err)
	}
	return inputError(demo.Experiment(c.Context, demo.ExperimentOptions{
		Task: c.String("task"), Data: c.String("data"), Dir: c.String("output"), StudentURL: url, StudentModel: model,
		Sizes: sizes, Seeds: c.Int("seeds"), Heldout: c.Int("heldout"), Test: c.Int("test"), Workers: c.Int("workers"),
		Seed: c.Int64("seed"), Ablation: c.Bool("ablation"), Teacher: inv, Env: compileEnv(c),
	}))
}
