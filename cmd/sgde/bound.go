package main

import (
	"encoding/json"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/compiler/pac"
	"github.com/sgde-project/sgde/plans"
)

func boundCommand() *cli.Command {
	return &cli.Command{
		Name:  "bound",
		Usage: "print the PAC sample bound m >= (k ln 3 + ln(1/delta)) / epsilon",
		UsageText: "sgde bound -k K --epsilon E --delta D [--json]\n" +
			"sgde bound --plan PLAN [--branch-items ROUTER.BRANCH=N]... [--heldout N --misrouted E] [--json]\n\n" +
			"k is the number of subtask types of a plan (its nodes outside consensus members), each of\n" +
			"which may sit on one of 3 substrates. The first line of output is m alone.\n\n" +
			"With --plan, k is read from the plan; for a plan with routers the bound is also given per\n" +
			"branch (delta split over the r branches and the router) and, with --heldout and --misrouted,\n" +
			"the router's misrouting rate is bounded (docs/COMPILER.md, \"PAC\", says which assumption\n" +
			"each bound uses).\n\n" +
			"Example:\n   sgde bound -k 3 --epsilon 0.05 --delta 0.05\n" +
			"   sgde bound --plan testdata/plans/mixed-routed.yaml --branch-items route.arith=120 --branch-items route.choice=50 --heldout 100 --misrouted 2",
		Flags: []cli.Flag{
			&cli.IntFlag{Name: "k", Usage: "number of subtask types (at least 1)"},
			&cli.Float64Flag{Name: "epsilon", Usage: "risk tolerance, strictly between 0 and 1", Value: 0.05},
			&cli.Float64Flag{Name: "delta", Usage: "failure probability, strictly between 0 and 1", Value: 0.05},
			&cli.BoolFlag{Name: "json", Usage: "print a JSON object instead of text"},
			&cli.StringFlag{Name: "plan", Usage: "read k from this plan (and bound each router branch)"},
			&cli.StringSliceFlag{Name: "branch-items", Usage: "ROUTER.BRANCH=N: training items routed to a branch (with --plan)"},
			&cli.IntFlag{Name: "heldout", Usage: "held-out items the routers were checked on (with --plan)"},
			&cli.IntFlag{Name: "misrouted", Usage: "of --heldout, items sent to the wrong branch (with --plan)"},
		},
		Action: func(c *cli.Context) error {
			if c.NArg() > 0 {
				return usagef("bound takes no arguments, got %q", c.Args().First())
			}
			if c.IsSet("plan") {
				if c.IsSet("k") {
					return usagef("bound takes -k or --plan, not both")
				}
				return boundPlan(c)
			}
			if !c.IsSet("k") {
				return usagef("bound needs -k K or --plan PLAN")
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
			return pac.Report{K: k, Epsilon: eps, Delta: delta, M: m}.WriteText(out)
		},
	}
}

// boundPlan is sgde bound --plan: the whole plan's bound and, for routers, each branch's and
// the router's.
func boundPlan(c *cli.Context) error {
	p, err := plans.Load(c.String("plan"))
	if err != nil {
		return usagef("%v", err)
	}
	trainN, err := pac.ParseBranchItems(p, c.StringSlice("branch-items"))
	if err != nil {
		return usagef("--branch-items %v", err)
	}
	heldout := map[string][2]int{}
	if c.IsSet("heldout") {
		n, e := c.Int("heldout"), c.Int("misrouted")
		if n <= 0 || e < 0 || e > n {
			return usagef("--heldout must be positive and --misrouted between 0 and it")
		}
		for _, r := range p.Routers() {
			heldout[r.ID] = [2]int{n, e}
		}
	}
	eps, delta := c.Float64("epsilon"), c.Float64("delta")
	rep, err := pac.ForRouted(p, eps, delta, trainN, heldout)
	if err != nil {
		return usagef("%v", err)
	}
	out := c.App.Writer
	if c.Bool("json") {
		return json.NewEncoder(out).Encode(rep)
	}
	return rep.WriteText(out, trainN)
}
