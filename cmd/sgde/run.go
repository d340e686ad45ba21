package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/internal/runenv"
	"github.com/sgde-project/sgde/internal/tty"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/sandbox"
)

// runtimeFlags are shared by the commands that run plans (run, eval).
func runtimeFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "student-url", EnvVars: []string{"SGDE_STUDENT_URL"}, Usage: "base URL of the OpenAI-compatible student endpoint, e.g. http://127.0.0.1:8088/v1"},
		&cli.StringFlag{Name: "student-model", EnvVars: []string{"SGDE_STUDENT_MODEL"}, Usage: "student model name"},
		&cli.StringFlag{Name: "student-api-key", EnvVars: []string{"SGDE_STUDENT_API_KEY"}, Usage: "bearer token for the student endpoint"},
		&cli.DurationFlag{Name: "student-timeout", Value: 60 * time.Second, Usage: "bound on one student request"},
		&cli.IntFlag{Name: "student-retries", Value: 5, Usage: "retries of a student request on 429, 5xx, timeouts and malformed replies"},
		&cli.IntFlag{Name: "student-concurrency", Value: 8, Usage: "student requests in flight at most"},
		&cli.Float64Flag{Name: "student-rate", Usage: "student requests per second at most (0: unlimited)"},
		&cli.IntFlag{Name: "student-burst", Value: 1, Usage: "burst allowed by --student-rate"},
		&cli.StringFlag{Name: "cache", Usage: "response cache file", DefaultText: "$SGDE_CACHE_DIR or $XDG_CACHE_HOME/sgde, then responses.db"},
		&cli.StringFlag{Name: "cache-mode", Value: "use", Usage: "use, refresh, off, or replay (offline: a response missing from the cache is an error)"},
		engineFlag(),
		&cli.IntFlag{Name: "concurrency", Value: 16, Usage: "node executions (student and code calls) in flight at most"},
		&cli.StringFlag{Name: "traces", Usage: "append one JSON line per plan run to this file"},
	}
}

// studentConfig is the student client's configuration from the --student-* flags that run,
// eval and serve share.
func studentConfig(c *cli.Context, url, model string) llm.Config {
	return llm.NewConfig(url, model).
		WithAPIKey(c.String("student-api-key")).
		WithTimeout(c.Duration("student-timeout")).
		WithRetries(c.Int("student-retries")).
		WithConcurrency(c.Int("student-concurrency")).
		WithRateLimit(c.Float64("student-rate"), c.Int("student-burst"))
}

// openEnv opens the runner for p from the runner flags (runenv.Open). The caller closes it.
func openEnv(c *cli.Context, p *plans.Plan) (*runenv.Env, error) {
	return runenv.Open(c.Context, runenv.Config{
		CacheMode: c.String("cache-mode"), CachePath: c.String("cache"),
		Student:     studentConfig(c, c.String("student-url"), c.String("student-model")),
		Concurrency: c.Int("concurrency"), Engine: c.String("engine"), Traces: c.String("traces"),
		Warnings: c.App.ErrWriter,
	}, p)
}

// loadPlan loads and validates the plan named by the only positional argument.
func loadPlan(args []string, command string) (*plans.Plan, error) {
	if len(args) != 1 {
		return nil, usagef("%s takes exactly one plan file, got %d arguments", command, len(args))
	}
	p, err := plans.Load(args[0])
	if err != nil {
		if errors.Is(err, plans.ErrInvalid) {
			return nil, fmt.Errorf("invalid plan:\n%w", err)
		}
		return nil, err
	}
	return p, nil
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run a plan on one input (or on each line of a JSONL file) and print the output",
		UsageText: "sgde run PLAN --input JSON | --inputs FILE.jsonl [options]\n\n" +
			"Example:\n   sgde run testdata/plans/gsm-hard-zero-shot.yaml --input '{\"question\": \"What is 2+3?\"}' \\\n" +
			"      --student-url http://127.0.0.1:8088/v1 --student-model slm-1.5b",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "input", Usage: "the plan inputs as one JSON object"},
			&cli.StringFlag{Name: "inputs", Usage: "JSONL file of input objects, one run per line; prints one JSON result per line"},
			&cli.BoolFlag{Name: "trace", Usage: "print the run's trace tree to stderr"},
		}, runtimeFlags()...),
		Action: func(c *cli.Context) error {
			p, err := loadPlan(c.Args().Slice(), "run")
			if err != nil {
				return err
			}
			one, many := c.String("input"), c.String("inputs")
			if (one == "") == (many == "") {
				return usagef("give exactly one of --input JSON and --inputs FILE")
			}
			e, err := openEnv(c, p)
			if err != nil {
				return err
			}
			defer e.Close()
			prog, err := e.Runner.Prepare(p)
			if err != nil {
				return err
			}
			if one != "" {
				in, err := runtime.DecodeInputs([]byte(one))
				if err != nil {
					return usagef("--input: %v", err)
				}
				var tree io.Writer
				if c.Bool("trace") {
					tree = c.App.ErrWriter
				}
				return runError(prog.RunOne(c.Context, in, c.App.Writer,
					runtime.OneOptions{Traces: e.Traces, Tree: tree, Color: tty.IsTerminal(c.App.ErrWriter)}))
			}
			return runMany(c, e, prog, many)
		},
	}
}

// runError maps a run failure to the exit code: 2 for bad inputs, 3 for code limits and traps.
func runError(err error) error {
	var ne *runtime.NodeError
	if errors.As(err, &ne) {
		if ne.Kind == runtime.KindInput {
			return usageError{err}
		}
		if sandbox.IsLimit(ne.Err) {
			return withCode(exitLimit, err)
		}
	}
	return err
}

// runMany runs each line of a JSONL file, printing one JSON result per line.
func runMany(c *cli.Context, e *runenv.Env, prog *runtime.Program, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return usagef("--inputs: %v", err)
	}
	defer f.Close()
	failed, err := prog.RunLines(c.Context, f, c.App.Writer, e.Traces)
	if err != nil {
		return fmt.Errorf("--inputs %s: %w", path, err)
	}
	if failed > 0 {
		return fmt.Errorf("%d of the runs failed", failed)
	}
	return nil
}
