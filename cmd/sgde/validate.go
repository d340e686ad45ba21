package main

import (
	"errors"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/internal/runenv"
	"github.com/sgde-project/sgde/plans"
)

func validateCommand() *cli.Command {
	return &cli.Command{
		Name:  "validate",
		Usage: "check plan files and print their content digests",
		UsageText: "sgde validate [--canonical] PLAN...\n\n" +
			"Checks each plan (YAML or JSON): unknown fields, cycles, dangling references, type\n" +
			"mismatches, limits out of range, missing or escaping code paths, code that does not\n" +
			"parse or imports what the sandbox forbids (--build: code that does not build). Every problem is\n" +
			"printed as FILE:LINE: node \"ID\": MESSAGE. A valid plan prints \"ok FILE sha256:...\",\n" +
			"a digest that does not change with formatting or key order. Exit 0 when all are\n" +
			"valid, 1 when any is not, 2 on bad usage.\n\n" +
			"Example:\n   sgde validate testdata/plans/*.yaml",
		Flags: []cli.Flag{
			&cli.BoolFlag{Name: "canonical", Usage: "print each valid plan's canonical form (one JSON line) instead of its digest"},
			&cli.BoolFlag{Name: "build", Usage: "also build every code node with the Go toolchain (slow on a cold cache); without it code is only parsed and its imports checked"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() == 0 {
				return usagef("validate needs at least one PLAN file")
			}
			out, errOut := c.App.Writer, c.App.ErrWriter
			bad := 0
			for _, path := range c.Args().Slice() {
				p, err := plans.Load(path)
				if err == nil {
					err = runenv.CheckCode(c.Context, p, c.Bool("build"))
				}
				if err == nil {
					var text string
					if c.Bool("canonical") {
						var b []byte
						b, err = plans.Canonical(p)
						text = string(b)
					} else {
						var d string
						d, err = plans.Digest(p)
						text = fmt.Sprintf("ok %s %s", path, d)
					}
					if err == nil {
						fmt.Fprintln(out, text)
						continue
					}
				}
				bad++
				var list plans.ErrorList
				if errors.As(err, &list) {
					fmt.Fprintln(errOut, list.Error())
				} else {
					fmt.Fprintf(errOut, "%s: %v\n", path, err)
				}
			}
			if bad > 0 {
				return fmt.Errorf("%d of %d plans are invalid", bad, c.NArg())
			}
			return nil
		},
	}
}
