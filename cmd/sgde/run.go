package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"
	"golang.org/x/term"

	"github.com/sgde-project/sgde/internal/cachedir"
	"github.com/sgde-project/sgde/plans"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
	"github.com/sgde-project/sgde/runtime/trace"
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

// env is what a command needs to run plans; close releases it.
type env struct {
	runner *runtime.Runner
	traces *trace.Writer
	close  func()
}

// needs reports which substrates p uses, inside router branches too.
func needs(p *plans.Plan) (student, code bool) {
	p.Walk(func(_ *plans.Plan, n *plans.Node) {
		switch n.Substrate {
		case plans.SubstrateLLM:
			student = true
		case plans.SubstrateCode:
			code = true
		}
	})
	return student, code
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

// newEnv builds the runner for p from the command's flags. Only what p needs is set up: a
// plan without code nodes needs no Go toolchain, and replay mode needs no endpoint.
func newEnv(ctx context.Context, c *cli.Context, p *plans.Plan) (_ *env, err error) {
	e := &env{close: func() {}}
	defer func() {
		if err != nil {
			e.close()
		}
	}()
	// then adds a release step; e.close runs the steps in the reverse order of their adding.
	then := func(f func()) {
		prev := e.close
		e.close = func() { f(); prev() }
	}
	mode, err := cache.ParseMode(c.String("cache-mode"))
	if err != nil {
		return nil, usagef("--cache-mode: %v", err)
	}
	if err := cachePathIsNotMode(c.String("cache")); err != nil {
		if c.String("cache") != string(cache.ModeOff) {
			return nil, err
		}
		mode = cache.ModeOff // "--cache off" says what it means
	}
	opts := runtime.Options{CacheMode: mode, Concurrency: c.Int("concurrency"), Model: c.String("student-model")}
	if mode != cache.ModeOff {
		path := c.String("cache")
		if path == "" {
			root, err := cachedir.Root()
			if err != nil {
				return nil, err
			}
			path = filepath.Join(root, "responses.db")
		}
		cc, err := cache.Open(path, 5*time.Second)
		if err != nil {
			return nil, err
		}
		cc.WarnMovedAside(c.App.ErrWriter, path)
		then(func() { cc.Close() })
		opts.Cache = cc
	}
	student, code := needs(p)
	if student {
		url, model := c.String("student-url"), c.String("student-model")
		switch {
		case model == "":
			return nil, usagef("the plan has llm nodes: set --student-model or SGDE_STUDENT_MODEL")
		case url == "" && mode != cache.ModeReplay:
			return nil, usagef("the plan has llm nodes: set --student-url or SGDE_STUDENT_URL (or --cache-mode replay to run offline)")
		case url != "":
			client, err := llm.New(studentConfig(c, url, model))
			if err != nil {
				return nil, usagef("%v", err)
			}
			opts.Student = client
		}
	}
	var engine plans.EngineName
	if code {
		planEngine := ""
		if p.Defaults != nil {
			planEngine = p.Defaults.Engine
		}
		if engine, err = chooseEngine(c.String("engine"), planEngine); err != nil {
			return nil, err
		}
	}
	r, release, err := newRunner(ctx, opts, string(engine), nil)
	if err != nil {
		return nil, err
	}
	then(release)
	e.runner = r
	if path := c.String("traces"); path != "" {
		f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			return nil, fmt.Errorf("traces: %w", err)
		}
		then(func() { f.Close() })
		e.traces = trace.NewWriter(f)
	}
	return e, nil
}

// cachePathIsNotMode refuses a --cache path that is a cache mode word: "--cache off" would
// otherwise create a database named "off".
func cachePathIsNotMode(path string) error {
	if _, err := cache.ParseMode(path); err != nil || path == "" {
		return nil
	}
	if _, err := os.Stat(path); err == nil {
		return nil // an existing file of that name is what the user means
	}
	return usagef("--cache takes a database file, not %q: did you mean --cache-mode %s?", path, path)
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
			e, err := newEnv(c.Context, c, p)
			if err != nil {
				return err
			}
			defer e.close()
			prog, err := e.runner.Prepare(p)
			if err != nil {
				return err
			}
			if one != "" {
				in, err := runtime.DecodeInputs([]byte(one))
				if err != nil {
					return usagef("--input: %v", err)
				}
				return runOne(c, e, prog, in)
			}
			return runMany(c, e, prog, many)
		},
	}
}

func runOne(c *cli.Context, e *env, prog *runtime.Program, in map[string]any) error {
	res, err := prog.Run(c.Context, in)
	if e.traces != nil {
		if werr := e.traces.Write(res.Trace); werr != nil && err == nil {
			err = werr
		}
	}
	if c.Bool("trace") {
		_ = trace.Render(c.App.ErrWriter, res.Trace, trace.RenderOptions{Color: isTerminal(c.App.ErrWriter)})
	}
	if err != nil {
		return runError(err)
	}
	return printValue(c.App.Writer, res.Output)
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

// printValue prints strings as they are and everything else as JSON.
func printValue(w io.Writer, v any) error {
	if s, ok := v.(string); ok {
		_, err := fmt.Fprintln(w, s)
		return err
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// runMany runs each line of a JSONL file, printing one JSON result per line.
func runMany(c *cli.Context, e *env, prog *runtime.Program, path string) error {
	f, err := os.Open(path)
	if err != nil {
		return usagef("--inputs: %v", err)
	}
	defer f.Close()
	failed, err := prog.RunLines(c.Context, f, c.App.Writer, e.traces)
	if err != nil {
		return fmt.Errorf("--inputs %s: %w", path, err)
	}
	if failed > 0 {
		return fmt.Errorf("%d of the runs failed", failed)
	}
	return nil
}

// isTerminal reports whether w is a terminal (for colours and progress bars).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}
