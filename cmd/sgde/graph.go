package main

import (
	"bytes"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/plans"
)

func graphCommand() *cli.Command {
	return &cli.Command{
		Name:  "graph",
		Usage: "draw a plan as a Mermaid flowchart, a Graphviz digraph or an SVG picture",
		UsageText: "sgde graph [--format mermaid|dot|svg] PLAN\n\n" +
			"Draws the plan's nodes and data flow: llm nodes are rounded blue boxes, code nodes\n" +
			"orange hexagons, a consensus a dashed green frame around the nodes it replicates,\n" +
			"with its vote inside. The plan is validated first.\n\n" +
			"Examples:\n" +
			"   sgde graph testdata/plans/gsm-hard-compiled.yaml\n" +
			"   sgde graph --format svg testdata/plans/gsm-hard-compiled.yaml > plan.svg   # no Graphviz needed\n" +
			"   sgde graph --format dot testdata/plans/gsm-hard-compiled.yaml | dot -Tsvg > plan.svg   # needs Graphviz",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "format", Aliases: []string{"f"}, Value: "mermaid", Usage: "mermaid, dot or svg (the picture the compile report shows)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() != 1 {
				return usagef("graph needs exactly one PLAN file, got %d", c.NArg())
			}
			format := plans.GraphFormat(c.String("format"))
			if format != plans.GraphMermaid && format != plans.GraphDOT && format != plans.GraphSVG {
				return usagef("--format is %q, want mermaid, dot or svg", format)
			}
			p, err := plans.Load(c.Args().First())
			if err != nil {
				return err
			}
			var b bytes.Buffer
			if err := plans.WriteGraph(&b, p, format); err != nil {
				return err
			}
			_, err = c.App.Writer.Write(b.Bytes())
			return err
		},
	}
}
