package cliargs

import (
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/sgde-project/sgde/internal/textdist"
	"github.com/urfave/cli/v2"
)

// Interspersed rewrites a command line so that flags written after positional arguments
// ("sgde graph PLAN --format dot", "sgde validate PLAN --help") come before them, where
// urfave/cli (which stops parsing at the first positional argument) reads them. It is the one
// mechanism for every command: it walks the command tree, so subcommands ("trace show FILE
// --id X") are covered too. "--" ends flag parsing as usual: what follows stays positional.
//
// A name that is not a command of a command group (the root, "sim", "trace") is a usage error
// that suggests the nearest command. Every error it returns is the caller's mistake in writing
// the command line (a usage error).
func Interspersed(app *cli.App, args []string) ([]string, error) {
	if len(args) < 2 || args[len(args)-1] == "--generate-bash-completion" {
		return args, nil // shell completion reads the raw line
	}
	root := &cli.Command{Name: app.Name, Flags: app.Flags, Subcommands: app.Commands}
	rest, err := reorder(root, "", args[1:])
	if err != nil {
		return nil, err
	}
	return append([]string{args[0]}, rest...), nil
}

// reorder puts cmd's flags before its positional arguments, descending into the subcommand
// named by the first positional argument. path is the command path so far, for messages.
func reorder(cmd *cli.Command, path string, args []string) ([]string, error) {
	fs := flag.NewFlagSet(cmd.Name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	for _, f := range append([]cli.Flag{cli.HelpFlag}, cmd.Flags...) {
		_ = f.Apply(fs) // a flag that cannot apply is reported by urfave/cli itself
	}
	var flags, pos []string
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			pos = append(pos, args[i+1:]...)
			i = len(args)
		case len(a) > 1 && a[0] == '-':
			flags = append(flags, a)
			if takesValue(fs, a) {
				if i+1 == len(args) {
					// Reordered, it would take a positional argument as its value.
					return nil, fmt.Errorf("flag %s needs a value", a)
				}
				i++
				flags = append(flags, args[i])
			}
		case len(pos) == 0 && len(cmd.Subcommands) > 0:
			if sub := subcommand(cmd, a); sub != nil {
				rest, err := reorder(sub, strings.TrimSpace(path+" "+sub.Name), args[i+1:])
				if err != nil {
					return nil, err
				}
				return append(append(flags, a), rest...), nil
			}
			if a == "help" || a == "h" {
				return append(append(flags, a), args[i+1:]...), helpTopic(cmd, path, args[i+1:])
			}
			if cmd.Action == nil {
				return nil, unknownCommand(cmd, path, a)
			}
			pos = append(pos, a)
		default:
			pos = append(pos, a)
		}
	}
	out := flags
	if HelpAsked(flags) {
		// urfave/cli would read the first positional argument as a help topic: "sgde validate
		// PLAN --help" asks for validate's help, not for a command named PLAN.
		return out, nil
	}
	for _, p := range pos {
		if len(p) > 1 && p[0] == '-' {
			// A positional argument that looks like a flag was written after "--": keep it so.
			out = append(out, "--")
			break
		}
	}
	return append(out, pos...), nil
}

// HelpAsked reports whether flags hold -h or --help.
func HelpAsked(flags []string) bool {
	for _, f := range flags {
		for _, n := range cli.HelpFlag.Names() {
			if f == "-"+n || f == "--"+n {
				return true
			}
		}
	}
	return false
}

// takesValue reports whether the flag token a ("-o", "--format", not "--format=dot") consumes
// the next argument as its value.
func takesValue(fs *flag.FlagSet, a string) bool {
	name := strings.TrimLeft(a, "-")
	if strings.Contains(name, "=") {
		return false
	}
	f := fs.Lookup(name)
	if f == nil {
		return false // unknown: urfave/cli reports it
	}
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return !ok || !b.IsBoolFlag()
}

func subcommand(cmd *cli.Command, name string) *cli.Command {
	for _, s := range cmd.Subcommands {
		if s.HasName(name) {
			return s
		}
	}
	return nil
}

// helpTopic checks "sgde [group] help NAME": NAME must be a command of the group.
func helpTopic(cmd *cli.Command, path string, args []string) error {
	if len(args) == 0 || subcommand(cmd, args[0]) != nil {
		return nil
	}
	return unknownCommand(cmd, path, args[0])
}

// unknownCommand is the usage error for a name that is not a command of group cmd.
func unknownCommand(cmd *cli.Command, path, name string) error {
	where := "sgde"
	if path != "" {
		where = "sgde " + path
	}
	if near := nearest(cmd.Subcommands, name); near != "" {
		return fmt.Errorf("%s has no command %q: did you mean %q? See '%s --help'", where, name, near, where)
	}
	return fmt.Errorf("%s has no command %q; see '%s --help'", where, name, where)
}

// nearest returns the visible command name closest to name in edit distance, if it is close
// enough to be a typo (at most a third of its letters, or two, differ).
func nearest(cmds []*cli.Command, name string) string {
	best, bestD := "", 0
	for _, c := range cmds {
		if c.Hidden {
			continue
		}
		for _, n := range c.Names() {
			if d := textdist.Levenshtein(name, n); best == "" || d < bestD {
				best, bestD = n, d
			}
		}
	}
	if best == "" || bestD > max(2, len(best)/3) {
		return ""
	}
	return best
}
