package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/internal/teachersim"
)

func simTeacherCommand() *cli.Command {
	return &cli.Command{
		Name:  "teacher",
		Usage: "serve a simulated frontier teacher (OpenAI-compatible) for `sgde compile --teacher URL`",
		UsageText: "sgde sim teacher [--addr HOST:PORT] [--seed N] [--fault-rate P] [--faults CLASS,...]\n\n" +
			"The teacher reads the compiler's request, recognises the kind of question from the traces and\n" +
			"answers with edits carrying Go code; a seeded share of replies carry faults (classes: " +
			fmt.Sprint(teachersim.Faults()) + ").\n" +
			"Its code exercises the compiler and says nothing about what a real model would write.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "addr", Value: "127.0.0.1:8089", Usage: "listen address; port 0 picks a free port"},
			&cli.Uint64Flag{Name: "seed", Value: 0, Usage: "selects one simulated teacher"},
			&cli.Float64Flag{Name: "fault-rate", Value: 0, Usage: "share of replies (0..1) that carry a fault"},
			&cli.StringSliceFlag{Name: "faults", Usage: "fixed fault per request, cycling (overrides --fault-rate); none for a clean reply"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("sim teacher takes no arguments, got %q", c.Args().First())
			}
			cfg := teachersim.NewConfig().WithSeed(c.Uint64("seed")).WithFaultRate(c.Float64("fault-rate"))
			if fs := c.StringSlice("faults"); len(fs) > 0 {
				cfg = cfg.WithFaults(fs...)
			}
			if err := cfg.Validate(); err != nil {
				return usagef("%v", err)
			}
			srv, err := teachersim.Start(c.Context, c.String("addr"), cfg)
			if err != nil {
				return err
			}
			fmt.Fprintf(c.App.Writer, "sgde sim teacher: listening on %s (seed %d)\n--teacher %s --teacher-model %s\n", srv.Addr(), c.Uint64("seed"), srv.URL(), srv.Model())
			fmt.Fprint(c.App.ErrWriter, "sgde sim teacher: this is a SIMULATED teacher; it tests sgde's machinery, not real models.\n")
			<-srv.Done()
			if err := srv.Err(); err != nil {
				return fmt.Errorf("sim teacher: %w", err)
			}
			return nil
		},
	}
}
