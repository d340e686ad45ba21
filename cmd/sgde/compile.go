package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/compiler/report"
	"github.com/sgde-project/sgde/internal/demo"
	"github.com/sgde-project/sgde/internal/runenv"
	"github.com/sgde-project/sgde/internal/tty"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
)

func compileFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "task", Usage: "task file (initial plan, data fields, metric), e.g. testdata/tasks/gsm-hard.yaml"},
		&cli.StringFlag{Name: "train", Usage: "training data (JSONL)"},
		&cli.StringFlag{Name: "heldout", Usage: "held-out data (JSONL) on which candidates are accepted or rejected"},
		&cli.BoolFlag{Name: "no-routers", Usage: "never route between a candidate and the incumbent (one monolithic plan)"},
		&cli.StringFlag{Name: "test", Usage: "optional test data (JSONL) for the baselines table; default: the held-out data"},
		&cli.StringFlag{Name: "suspects", Usage: "optional suspect-labels file; the table also reports accuracy without them"},
		&cli.StringFlag{Name: "teacher", Value: "library", Usage: "library (offline, deterministic), library+synth (also synthesise programs from the traces), synth (synthesis only, no catalogue modules) or the base URL of an OpenAI-compatible teacher"},
		&cli.StringFlag{Name: "teacher-model", Usage: "teacher model name (URL teachers)"},
		&cli.Int64Flag{Name: "budget-teacher-tokens", Usage: "stop when the teacher has used this many tokens (0: unlimited)"},
		&cli.StringFlag{Name: "student-url", EnvVars: []string{"SGDE_STUDENT_URL"}, Usage: "base URL of the OpenAI-compatible student endpoint"},
		&cli.StringFlag{Name: "student-model", EnvVars: []string{"SGDE_STUDENT_MODEL"}, Usage: "student model name"},
		&cli.StringFlag{Name: "actions", Value: "prompt,offload,consensus,split,fuse,route", Usage: "edits the teacher may propose"},
		&cli.IntFlag{Name: "candidates", Aliases: []string{"K"}, Value: 3, Usage: "candidate plans per iteration"},
		&cli.Float64Flag{Name: "min-delta", Value: 0.01, Usage: "least drop in held-out risk to accept a candidate"},
		&cli.Float64Flag{Name: "alpha", Value: 0.05, Usage: "significance level of the exact McNemar test"},
		&cli.IntFlag{Name: "patience", Value: 2, Usage: "stop after this many iterations without an accepted candidate"},
		&cli.IntFlag{Name: "iterations", Value: 8, Usage: "iteration budget"},
		&cli.Int64Flag{Name: "budget-student-calls", Usage: "stop when this many student requests were sent (0: unlimited)"},
		&cli.DurationFlag{Name: "budget-wall", Usage: "stop after this much wall time (0: unlimited)"},
		&cli.Int64Flag{Name: "seed", Value: 7, Usage: "seed recorded in provenance (and used to split data in the demo)"},
		&cli.IntFlag{Name: "probe", Value: 8, Usage: "training items new code nodes are tested on in the sandbox"},
		&cli.IntFlag{Name: "workers", Value: 8, Usage: "items evaluated at once"},
		&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Usage: "output directory (plan, log, checkpoint, cache, report)"},
		&cli.StringFlag{Name: "resume", Usage: "continue the compile checkpointed in this directory"},
		&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"},
	}
}

func compileCommand() *cli.Command {
	return &cli.Command{
		Name:  "compile",
		Usage: "compile a plan with Semantic Gradient Descent (teacher edits, held-out acceptance)",
		UsageText: "sgde compile --task TASK.yaml --train FILE --heldout FILE --teacher library|URL [--teacher-model M]\n" +
			"             --student-url U --student-model M -o DIR [options]\n" +
			"sgde compile --resume DIR [--student-url U] [--teacher URL]\n\n" +
			"Writes DIR/plan.yaml (provenance filled in), DIR/compile-log.jsonl, DIR/report.html and\n" +
			"DIR/baselines.json, and checkpoints after every iteration. The teacher's API key is read\n" +
			"from SGDE_TEACHER_API_KEY, the student's from SGDE_STUDENT_API_KEY.\n\n" +
			"Example (from the repository root; sgde demo writes the train/held-out split it uses):\n" +
			"   sgde demo -q -o out/demo\n" +
			"   sgde sim serve --addr 127.0.0.1:8088 &\n" +
			"   sgde compile --task testdata/tasks/gsm-hard.yaml --train out/demo/data/train.jsonl \\\n" +
			"     --heldout out/demo/data/heldout.jsonl --teacher library \\\n" +
			"     --student-url http://127.0.0.1:8088/v1 --student-model slm-1.5b -o out/gsm",
		Flags: compileFlags(),
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("compile takes no arguments, got %q", c.Args().First())
			}
			if dir := c.String("resume"); dir != "" {
				inv, err := report.LoadInvocation(dir)
				if err != nil {
					return err
				}
				if err := inv.CheckPinned(); err != nil {
					return err
				}
				// Endpoints may have moved since the crash; everything else is the checkpoint's.
				if c.IsSet("student-url") {
					inv.StudentURL = c.String("student-url")
				}
				if c.IsSet("teacher") && !report.OfflineTeacher(inv.Teacher) && !report.OfflineTeacher(c.String("teacher")) {
					inv.Teacher = c.String("teacher")
				}
				_, _, release, err := runCompile(c, inv, dir, true)
				release()
				return resumeHint(c, dir, err)
			}
			inv, err := invocationFrom(c)
			if err != nil {
				return err
			}
			_, _, release, err := runCompile(c, inv, c.String("output"), false)
			release()
			return resumeHint(c, c.String("output"), err)
		},
	}
}

// resumeHint adds how to continue to the error of an interrupted compile.
func resumeHint(c *cli.Context, dir string, err error) error {
	if err != nil && c.Context.Err() != nil {
		return fmt.Errorf("compile interrupted (%w); continue with: sgde compile --resume %s", err, dir)
	}
	return err
}

func invocationFrom(c *cli.Context) (report.Invocation, error) {
	inv := report.Invocation{
		Task: c.String("task"), Train: c.String("train"), Heldout: c.String("heldout"), Test: c.String("test"),
		Suspects: c.String("suspects"), Teacher: c.String("teacher"), TeacherModel: c.String("teacher-model"),
		TeacherBudget: c.Int64("budget-teacher-tokens"), StudentURL: c.String("student-url"),
		StudentModel: c.String("student-model"), Actions: c.String("actions"), K: c.Int("candidates"),
		MinDelta: c.Float64("min-delta"), Alpha: c.Float64("alpha"), Patience: c.Int("patience"),
		Iterations: c.Int("iterations"), BudgetCalls: c.Int64("budget-student-calls"), Seed: c.Int64("seed"),
		Probe: c.Int("probe"), Workers: c.Int("workers"), NoRouters: c.Bool("no-routers"),
	}
	if d := c.Duration("budget-wall"); d > 0 {
		inv.BudgetWall = d.String()
	}
	if err := inv.Check(c.String("output")); err != nil {
		return inv, inputError(err)
	}
	return inv, inv.Pin()
}

// compileEnv is what a compile takes from the command: the CLI's runner assembly (code nodes
// on wazero, under run's engine rules), its writers and its --quiet flag.
func compileEnv(c *cli.Context) report.Env {
	return report.Env{
		NewRunner: func(ctx context.Context, opts runtime.Options) (*runtime.Runner, func(), error) {
			return runenv.NewRunner(ctx, opts, string(plans.EngineWazero), nil)
		},
		Stdout: c.App.Writer, Stderr: c.App.ErrWriter, Quiet: c.Bool("quiet"), Terminal: tty.IsTerminal(c.App.ErrWriter),
	}
}

// runCompile runs report.Compile and maps a wrong setting or file to a usage error. The
// caller releases.
func runCompile(c *cli.Context, inv report.Invocation, dir string, resume bool) (*report.Outcome, *runtime.Runner, func(), error) {
	out, r, release, err := report.Compile(c.Context, inv, dir, resume, compileEnv(c))
	return out, r, release, inputError(err)
}

func demoCommand() *cli.Command {
	return &cli.Command{
		Name:  "demo",
		Usage: "compile GSM-Hard against the built-in student simulator and show the result",
		UsageText: "sgde demo [-o out/demo] [--train N --heldout N --test N] [--resume]\n" +
			"sgde demo --suite bbh|mixture [--families a,b] [-o out/suite-NAME] [--resume]\n\n" +
			"Starts the student simulator in-process, splits testdata/gsm-hard/slice.jsonl (fixed seed),\n" +
			"compiles the zero-shot plan with the library teacher, prints the baselines table, writes the\n" +
			"plan and the report, then runs the compiled plan on two test questions and shows their traces.\n" +
			"The student is simulated: the figures test sgde, not a language model.\n\n" +
			"Example:\n   sgde demo -o out/demo",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "output", Aliases: []string{"o"}, Value: filepath.Join("out", "demo"), Usage: "output directory (replaced unless --resume)"},
			&cli.StringFlag{Name: "data", Value: filepath.Join("testdata", "gsm-hard", "slice.jsonl"), Usage: "GSM-Hard records to split"},
			&cli.StringFlag{Name: "task", Value: filepath.Join("testdata", "tasks", "gsm-hard.yaml"), Usage: "task file"},
			&cli.StringFlag{Name: "suspects", Value: filepath.Join("testdata", "gsm-hard", "suspect-labels.json"), Usage: "suspect-labels file (\"\" to skip)"},
			&cli.IntFlag{Name: "train", Value: 120, Usage: "training items"},
			&cli.IntFlag{Name: "heldout", Value: 140, Usage: "held-out items"},
			&cli.IntFlag{Name: "test", Value: 140, Usage: "test items for the table"},
			&cli.IntFlag{Name: "iterations", Value: 4, Usage: "iteration budget"},
			&cli.StringFlag{Name: "actions", Value: "prompt,offload,consensus,split,fuse,route", Usage: "edits the teacher may propose"},
			&cli.Int64Flag{Name: "seed", Value: 7, Usage: "split seed"},
			&cli.BoolFlag{Name: "resume", Usage: "continue the demo checkpointed in the output directory"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress output"},
			&cli.StringFlag{Name: "suite", Usage: "compile and evaluate a suite of task families instead (bbh: the ten BIG-Bench Hard families of testdata/tasks/bbh; mixture: the families of testdata/tasks/mixture.yaml mixed, compiled with and without routers and each alone)"},
			&cli.StringFlag{Name: "families", Usage: "with --suite: comma-separated families to run (default: all)"},
			&cli.BoolFlag{Name: "ablation", Usage: "with --suite: also compile each family with prompt edits only, offload only, consensus only and split+fuse only"},
		},
		Action: runDemo,
	}
}

func runDemo(c *cli.Context) error {
	if c.NArg() > 0 {
		return usagef("demo takes no arguments, got %q", c.Args().First())
	}
	if c.String("suite") != "" {
		return runSuite(c)
	}
	previous, err := demo.GSM(c.Context, demo.GSMOptions{
		Dir: c.String("output"), Resume: c.Bool("resume"), Data: c.String("data"), Task: c.String("task"),
		Suspects: c.String("suspects"), Train: c.Int("train"), Heldout: c.Int("heldout"), Test: c.Int("test"),
		Iterations: c.Int("iterations"), Actions: c.String("actions"), Seed: c.Int64("seed"),
		Env: compileEnv(c), Color: tty.IsTerminal(c.App.Writer),
	})
	if err != nil && c.Context.Err() != nil {
		hint := fmt.Sprintf("demo interrupted (%v); continue with: sgde demo --resume -o %s", err, c.String("output"))
		if previous != "" {
			hint += fmt.Sprintf(" (the previous demo is kept in %s until a demo finishes)", previous)
		}
		return errors.New(hint)
	}
	return inputError(err)
}

// runSuite is `sgde demo --suite NAME`; the pipeline is demo.Suite's.
func runSuite(c *cli.Context) error {
	var keep []string
	for _, f := range strings.Split(c.String("families"), ",") {
		if f = strings.TrimSpace(f); f != "" {
			keep = append(keep, f)
		}
	}
	dir := c.String("output")
	if !c.IsSet("output") {
		dir = filepath.Join("out", "suite-"+c.String("suite"))
	}
	return inputError(demo.Suite(c.Context, demo.SuiteOptions{
		Name: c.String("suite"), Families: keep, Dir: dir, Seed: c.Int64("seed"),
		Resume: c.Bool("resume"), Ablation: c.Bool("ablation"), Quiet: c.Bool("quiet"), Env: compileEnv(c),
	}))
}

// inputError makes report's *InputError (a file or setting the caller gave is wrong) a usage
// error (exit 2); other errors pass unchanged.
func inputError(err error) error {
	var ie *report.InputError
	if errors.As(err, &ie) {
		return usageError{err}
	}
	return err
}
