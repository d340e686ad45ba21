// Command sgde compiles reliable workflows for small language models and runs them, with every
// piece of machine-written code locked in a WebAssembly sandbox.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/internal/cliargs"
	"github.com/sgde-project/sgde/internal/runenv"
)

// Exit codes shared by every command. Scripts and CI branch on them, so they never change meaning.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	// exitLimit is returned by commands that run code nodes when a call hit a limit or trapped.
	exitLimit = 3
)

// usageError marks an error as the caller's mistake in invoking the command (exit 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// usagef builds a usage error (exit code 2).
func usagef(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// exitCoder lets a command choose its exit code while still returning an error value.
type exitCoder interface{ ExitCode() int }

// codeError carries an explicit exit code.
type codeError struct {
	err  error
	code int
}

func (e codeError) Error() string { return e.err.Error() }
func (e codeError) Unwrap() error { return e.err }
func (e codeError) ExitCode() int { return e.code }

// withCode wraps err so that the process exits with code.
func withCode(code int, err error) error {
	if err == nil {
		return nil
	}
	return codeError{err: err, code: code}
}

// commands lists every subcommand. Each lives in its own file so that capabilities stay apart.
func commands() []*cli.Command {
	return []*cli.Command{
		versionCommand(),
		validateCommand(),
		graphCommand(),
		simCommand(),
		boundCommand(),
		compileCommand(),
		demoCommand(),
		experimentCommand(),
		buildCommand(),
		execCommand(),
		runCommand(),
		evalCommand(),
		traceCommand(),
		serveCommand(),
	}
}

func newApp(stdout, stderr io.Writer) *cli.App {
	app := &cli.App{
		Name:  "sgde",
		Usage: "compile and run sandboxed harnesses for small language models",
		Description: "sgde compiles a plan (a DAG of llm, code and consensus nodes) with Semantic Gradient\n" +
			"Descent and runs it; machine-written code runs only inside a WebAssembly sandbox.\n\n" +
			"Example:\n   sgde validate testdata/plans/*.yaml",
		Writer:               stdout,
		ErrWriter:            stderr,
		Commands:             commands(),
		EnableBashCompletion: true,
		HideVersion:          true,
		ExitErrHandler:       func(*cli.Context, error) {}, // main decides the exit code
		OnUsageError: func(_ *cli.Context, err error, _ bool) error {
			return usageError{err}
		},
	}
	for _, c := range app.Commands {
		setUsageHandler(c)
	}
	return app
}

func setUsageHandler(c *cli.Command) {
	c.OnUsageError = func(_ *cli.Context, err error, _ bool) error { return usageError{err} }
	for _, sub := range c.Subcommands {
		setUsageHandler(sub)
	}
}

// runApp runs app on args with flags accepted after positional arguments (interspersed).
func runApp(ctx context.Context, app *cli.App, args []string) error {
	args, err := cliargs.Interspersed(app, args)
	if err != nil {
		return usageError{err}
	}
	return app.RunContext(ctx, args)
}

// run is main without os.Exit, so tests can drive the CLI in-process.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	app := newApp(stdout, stderr)
	err := runApp(ctx, app, args)
	if err == nil {
		return exitOK
	}
	fmt.Fprintf(stderr, "sgde: %v\n", err)
	var ue usageError
	var se *runenv.SettingError
	if errors.As(err, &ue) || errors.As(err, &se) {
		return exitUsage
	}
	var ec exitCoder
	if errors.As(err, &ec) {
		return ec.ExitCode()
	}
	return exitFailure
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
