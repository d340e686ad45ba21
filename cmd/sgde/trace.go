package main

import (
	"fmt"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/internal/tty"
	"github.com/sgde-project/sgde/runtime/trace"
)

func traceCommand() *cli.Command {
	return &cli.Command{
		Name:      "trace",
		Usage:     "inspect trace files written by run and eval (--traces)",
		UsageText: "sgde trace show FILE [--failed] [--id ID] [--full] [--color auto|always|never]",
		Subcommands: []*cli.Command{{
			Name:  "show",
			Usage: "print each run as a tree: nodes, prompts, raw and parsed outputs, votes, code usage; failures marked",
			UsageText: "sgde trace show FILE [options]\n\n" +
				"Example:\n   sgde trace show gsm.traces.jsonl --failed | less -R",
			Flags: []cli.Flag{
				&cli.BoolFlag{Name: "failed", Usage: "only runs that failed"},
				&cli.StringFlag{Name: "id", Usage: "only the run with this id"},
				&cli.BoolFlag{Name: "full", Usage: "print prompts and outputs in full instead of truncating them"},
				&cli.StringFlag{Name: "color", Value: "auto", Usage: "auto (when stdout is a terminal), always or never"},
			},
			Action: func(c *cli.Context) error {
				args := c.Args().Slice()
				if len(args) != 1 {
					return usagef("trace show takes exactly one trace file, got %d arguments", len(args))
				}
				var color bool
				switch c.String("color") {
				case "auto":
					color = tty.IsTerminal(c.App.Writer)
				case "always":
					color = true
				case "never":
				default:
					return usagef("--color must be auto, always or never")
				}
				f, err := os.Open(args[0])
				if err != nil {
					return err
				}
				defer f.Close()
				err = trace.Show(c.App.Writer, f, trace.ShowOptions{RenderOptions: trace.RenderOptions{Color: color, Full: c.Bool("full")},
					Failed: c.Bool("failed"), ID: c.String("id")})
				if err != nil {
					return fmt.Errorf("%s: %w", args[0], err)
				}
				return nil
			},
		}},
	}
}
