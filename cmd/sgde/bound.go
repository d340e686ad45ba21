package main

import (
	"encoding/json"
	"fmt"

	"github.com/sgde-project/sgde/compiler/pac"
	"github.com/urfave/cli/v2"
)

func boundCommand() *cli.Command {
	return &cli.Command{
		Name:  "bound",
		Usage: "print the PAC sample bound m >= (k ln 3 + ln(1/delta)) / epsilon",
		UsageText: "sgde bound -k K --epsilon E --delta D [--json]\n\n" +
			"k is the number of subtask types of a plan (its nodes outside consensus members), each of\n" +
			"which may sit on one of 3 substrates. The first line of output is m alone.\n\n" +
			"Example:\n   sgde bound -k 3 --epsilon 0.05 --delta 0.05",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "k", Usage: "number of subtask types (at least 1)"},
			&cli.Float64Flag{Name: "epsilon", Usage: "risk tolerance, strictly between 0 and 1", Value: 0.05},
			&cli.Float64Flag{Name: "delta", Usage: "failure probability, strictly between 0 and 1", Value: 0.05},
			&cli.BoolFlag{Name: "json", Usage: "print a JSON object instead of text"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("bound takes no arguments, got %q", c.Args().First())
			}
			if !c.IsSet("k") {
				return usagef("bound needs -k K")
			}
			k, eps, delta := c.Int("k"), c.Float64("epsilon"), c.Float64("delta")
			m, err := pac.Bound(k, eps, delta)
			if err != nil {
				return usagef("%v", err)
			}
			out := c.App.Writer
			if c.Bool("json") {
				return json.NewEncoder(out).Encode(struct {
					K       int     `json:"k"`
					Epsilon float64 `json:"epsilon"`
					Delta   float64 `json:"delta"`
					M       int     `json:"m"`
				}{k, eps, delta, m})
			}
			fmt.Fprintf(out, "%d\n", m)
			fmt.Fprintf(out, "a plan with k=%d subtask types (3^%d candidate plans) that is right on %d training items has risk <= %g with probability >= %g\n",
				k, k, m, eps, 1-delta)
			return nil
		},
	}
}
