package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/internal/cliargs"
	"github.com/sgde-project/sgde/runtime/trace"
)

// commandPath is a command with the names leading to it ("trace show").
type commandPath struct {
	path []string
	cmd  *cli.Command
}

// allCommands walks the command tree of a fresh app.
func allCommands() []commandPath {
	var out []commandPath
	var walk func(prefix []string, cmds []*cli.Command)
	walk = func(prefix []string, cmds []*cli.Command) {
		for _, c := range cmds {
			p := append(slices.Clone(prefix), c.Name)
			out = append(out, commandPath{p, c})
			walk(p, c.Subcommands)
		}
	}
	walk(nil, newApp(io.Discard, io.Discard).Commands)
	return out
}

func isBool(f cli.Flag) bool {
	fs := flag.NewFlagSet("", flag.ContinueOnError)
	if err := f.Apply(fs); err != nil {
		return false
	}
	b, ok := fs.Lookup(f.Names()[0]).Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

// Every flag of every command is accepted after a positional argument: the rewrite puts it
// (with its value) before the positional arguments, exactly where it is accepted today.
func TestFlagsAfterPositionalsEveryCommand(t *testing.T) {
	app := newApp(io.Discard, io.Discard)
	covered := 0
	for _, cp := range allCommands() {
		if cp.cmd.Action == nil {
			continue // a command group: its subcommands are walked
		}
		for _, f := range cp.cmd.Flags {
			for _, name := range f.Names() {
				tok := "--" + name
				if len(name) == 1 {
					tok = "-" + name
				}
				given := []string{tok}
				if !isBool(f) {
					given = append(given, "VALUE")
				}
				t.Run(strings.Join(cp.path, "_")+"/"+name, func(t *testing.T) {
					prefix := append([]string{"sgde"}, cp.path...)
					after := append(append(slices.Clone(prefix), "POS"), given...)
					before := append(append(slices.Clone(prefix), given...), "POS")
					got, err := cliargs.Interspersed(app, after)
					if err != nil || !slices.Equal(got, before) {
						t.Errorf("interspersed(%q) = %q, %v; want %q", after, got, err, before)
					}
					if !isBool(f) {
						eq := append(slices.Clone(prefix), "POS", tok+"=VALUE")
						want := append(slices.Clone(prefix), tok+"=VALUE", "POS")
						if got, err := cliargs.Interspersed(app, eq); err != nil || !slices.Equal(got, want) {
							t.Errorf("interspersed(%q) = %q, %v; want %q", eq, got, err, want)
						}
					}
				})
				covered++
			}
		}
	}
	if covered < 50 {
		t.Errorf("only %d flags covered: the command walk is broken", covered)
	}
	// "--" keeps what follows positional, even when it looks like a flag.
	got, err := cliargs.Interspersed(app, []string{"sgde", "validate", "--", "-odd.yaml", "--canonical"})
	if want := []string{"sgde", "validate", "--", "-odd.yaml", "--canonical"}; err != nil || !slices.Equal(got, want) {
		t.Errorf("after --: %q, %v; want %q", got, err, want)
	}
}

// --help after a positional argument shows the command's help and runs nothing, on every
// command.
func TestHelpAfterPositionalEveryCommand(t *testing.T) {
	for _, cp := range allCommands() {
		args := slices.Clone(cp.path)
		if cp.cmd.Action != nil {
			args = append(args, "no-such-file.yaml")
		}
		args = append(args, "--help")
		t.Run(strings.Join(cp.path, "_"), func(t *testing.T) {
			code, out, errOut := runTestCLI(t, args...)
			if code != 0 || !strings.Contains(out, "sgde "+strings.Join(cp.path, " ")+" - ") || errOut != "" {
				t.Errorf("sgde %s: exit %d, stdout %q, stderr %q; want the command's help", strings.Join(args, " "), code, firstLines(out, 3), errOut)
			}
		})
	}
}

func firstLines(s string, n int) string {
	lines := strings.SplitN(s, "\n", n+1)
	return strings.Join(lines[:min(n, len(lines))], "\n")
}

// The same invocation gives the same output with its flags before or after the positional
// arguments.
func TestFlagsBeforeAndAfterSameOutput(t *testing.T) {
	dir := t.TempDir()
	traces := filepath.Join(dir, "traces.jsonl")
	f, err := os.Create(traces)
	if err != nil {
		t.Fatal(err)
	}
	w := trace.NewWriter(f)
	for _, id := range []string{"a", "b"} {
		if err := w.Write(&trace.Run{ID: id, Plan: "p", Output: id + "-out"}); err != nil {
			t.Fatal(err)
		}
	}
	f.Close()
	tests := []struct {
		name          string
		before, after []string
		want          string
	}{
		{"graph", []string{"graph", "--format", "dot", zeroShot}, []string{"graph", zeroShot, "--format", "dot"}, "digraph"},
		{"graph short", []string{"graph", "-f", "dot", zeroShot}, []string{"graph", zeroShot, "-f=dot"}, "digraph"},
		{"validate", []string{"validate", "--canonical", zeroShot}, []string{"validate", zeroShot, "--canonical"}, `"apiVersion"`},
		{"trace show", []string{"trace", "show", "--id", "b", "--color", "never", traces}, []string{"trace", "show", traces, "--id", "b", "--color=never"}, "b-out"},
		{"bound", []string{"bound", "-k", "3", "--json"}, []string{"bound", "--json", "-k", "3"}, `"m":126`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c1, out1, err1 := runTestCLI(t, tt.before...)
			c2, out2, err2 := runTestCLI(t, tt.after...)
			if c1 != 0 || c2 != 0 || out1 != out2 || !strings.Contains(out1, tt.want) {
				t.Errorf("before: exit %d %q %q\nafter: exit %d %q %q\nwant equal output containing %q", c1, firstLines(out1, 3), err1, c2, firstLines(out2, 3), err2, tt.want)
			}
			if tt.name == "trace show" && strings.Contains(out1, "a-out") {
				t.Errorf("--id b also showed run a:\n%s", out1)
			}
		})
	}
}

// Bad invocations are typed usage errors (exit 2), recognised without reading urfave/cli's
// message text; a mistyped command suggests the nearest one.
func TestUsageErrorsAreTyped(t *testing.T) {
	tests := []struct {
		args []string
		want string
	}{
		{[]string{"compil"}, `did you mean "compile"`},
		{[]string{"valdiate", zeroShot}, `did you mean "validate"`},
		{[]string{"sim", "sreve"}, `did you mean "serve"`},
		{[]string{"trace", "shwo", "x"}, `did you mean "show"`},
		{[]string{"zzzzzzzz"}, `no command "zzzzzzzz"`},
		{[]string{"help", "bogus"}, `no command "bogus"`},
		{[]string{"graph", zeroShot, "--nope"}, "nope"},
		{[]string{"graph", zeroShot, "--format"}, "format"},
		{[]string{"bound", "-k", "x"}, "-k"},
		{[]string{"bound"}, "needs -k"},
		{[]string{"graph", zeroShot, "extra.yaml"}, "exactly one"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.args, "_"), func(t *testing.T) {
			var out, errb bytes.Buffer
			err := runApp(context.Background(), newApp(&out, &errb), append([]string{"sgde"}, tt.args...))
			var ue usageError
			if !errors.As(err, &ue) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("sgde %s: error %v (%T), want a usageError containing %q", strings.Join(tt.args, " "), err, err, tt.want)
			}
			if code, _, _ := runTestCLI(t, tt.args...); code != exitUsage {
				t.Errorf("exit %d, want %d", code, exitUsage)
			}
		})
	}
	if _, err := cliargs.Interspersed(newApp(io.Discard, io.Discard), []string{"sgde", "rn"}); err == nil || !strings.Contains(err.Error(), `did you mean "run"`) {
		t.Errorf("sgde rn: %v, want a suggestion of run", err)
	}
}

// FuzzInterspersed: the rewrite never panics, and unless it refuses the line or --help drops
// the positional arguments, it only reorders: the same tokens (plus at most one "--"), the
// flags in their order, the positional arguments in theirs.
func FuzzInterspersed(f *testing.F) {
	for _, s := range []string{"graph p.yaml --format dot", "trace show f --id x --full", "run --input {} p -- -x",
		"eval p --data d merge", "validate a b --canonical", "exec -o x y.go --json", "sim serve --addr", "help graph"} {
		f.Add(s)
	}
	app := newApp(io.Discard, io.Discard)
	f.Fuzz(func(t *testing.T, line string) {
		args := append([]string{"sgde"}, strings.Fields(line)...)
		got, err := cliargs.Interspersed(app, args)
		if err != nil || cliargs.HelpAsked(got) {
			return
		}
		count := func(ss []string) map[string]int {
			m := map[string]int{}
			for _, s := range ss {
				if s != "--" {
					m[s]++
				}
			}
			return m
		}
		want, have := count(args), count(got)
		if len(want) != len(have) {
			t.Fatalf("%q -> %q: tokens changed", args, got)
		}
		for k, n := range want {
			if have[k] != n {
				t.Fatalf("%q -> %q: token %q %d times, want %d", args, got, k, have[k], n)
			}
		}
	})
}
