package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/sgde-project/sgde/internal/tty"
	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/metric"
)

func evalCommand() *cli.Command {
	return &cli.Command{
		Name:  "eval",
		Usage: "run a plan over a JSONL data set and report accuracy, errors, cost and latency",
		UsageText: "sgde eval PLAN --data FILE.jsonl --metric numeric|exact [options]\n\n" +
			"Results stream to --results (one JSON line per item); an interrupted eval continues\n" +
			"with --resume. Failing items are counted by error class and the eval goes on.\n\n" +
			"Example:\n   sgde eval testdata/plans/gsm-hard-zero-shot.yaml --data testdata/gsm-hard/slice.jsonl --metric numeric \\\n" +
			"      --limit 50 --exclude-ids testdata/gsm-hard/suspect-labels.json --results gsm.results.jsonl \\\n" +
			"      --student-url http://127.0.0.1:8088/v1 --student-model slm-1.5b",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "data", Usage: "JSONL data file"},
			&cli.StringFlag{Name: "metric", Value: "numeric", Usage: "numeric (relative tolerance, label precision) or exact"},
			&cli.Float64Flag{Name: "rel-tol", Value: metric.DefaultRelTol, Usage: "relative tolerance of the numeric metric"},
			&cli.IntFlag{Name: "limit", Usage: "evaluate only the first N records (0: all)"},
			&cli.StringFlag{Name: "shard", Usage: "evaluate only slice K of N (0 <= K < N: records K, K+N, K+2N, ... after --limit); combine the N results files with eval merge", DefaultText: "all records"},
			&cli.StringFlag{Name: "input-field", Value: "input", Usage: "record field holding the plan input"},
			&cli.StringFlag{Name: "label-field", Value: "target", Usage: "record field holding the label"},
			&cli.StringFlag{Name: "id-field", Value: "idx", Usage: "record field identifying the record (absent: the record's position)"},
			&cli.StringFlag{Name: "exclude-ids", Usage: "suspect-labels JSON (object keyed by id, or array of ids): also report accuracy without them"},
			&cli.StringFlag{Name: "results", Usage: "JSONL file the per-item results stream to (default: PLAN.DATA.DIGEST.results.jsonl, named after the plan, its digest and the data file)"},
			&cli.BoolFlag{Name: "resume", Usage: "keep the results already in --results and evaluate only the rest"},
			&cli.StringFlag{Name: "summary", Usage: "also write the summary as JSON to this file"},
			&cli.IntFlag{Name: "items-in-flight", Value: 4, Usage: "items evaluated concurrently"},
			&cli.BoolFlag{Name: "quiet", Aliases: []string{"q"}, Usage: "no progress bar"},
			&cli.BoolFlag{Name: "route-check", Value: true, Usage: "for a plan with routers, run the other branches on the items it gets wrong and count the misrouted ones (extra student requests, reported apart)"},
		}, runtimeFlags()...),
		Action: evalAction,
		Subcommands: []*cli.Command{{
			Name:  "merge",
			Usage: "combine the results files of the N shards of one eval into one, and report on it",
			UsageText: "sgde eval merge --results ALL.results.jsonl SHARD.results.jsonl...\n\n" +
				"Refuses files of different plans, data, metrics or options, missing or repeated shards, and\n" +
				"shards cut short (finish them with eval --resume, or pass --partial).\n\n" +
				"Example:\n   for k in 0 1 2; do sgde eval plan.yaml --data d.jsonl --shard $k/3 --results s$k.jsonl & done; wait\n" +
				"   sgde eval merge --results all.jsonl s0.jsonl s1.jsonl s2.jsonl",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "results", Usage: "results file to write (must not exist)"},
				&cli.BoolFlag{Name: "partial", Usage: "merge shards that have fewer results than items (the report says how many are missing)"},
				&cli.StringFlag{Name: "exclude-ids", Usage: "suspect-labels JSON: also report accuracy without them"},
				&cli.StringFlag{Name: "summary", Usage: "also write the summary as JSON to this file"},
			},
			Action: evalMergeAction,
		}},
	}
}

func evalMergeAction(c *cli.Context) error {
	if c.Args().Len() == 0 {
		return usagef("eval merge needs the results files of the shards")
	}
	out := c.String("results")
	if out == "" {
		return usagef("eval merge needs --results FILE to write")
	}
	h, rs, total, err := runtime.MergeResults(c.Args().Slice(), c.Bool("partial"))
	if err != nil {
		return err
	}
	exclude, err := readExclude(c.String("exclude-ids"))
	if err != nil {
		return err
	}
	if err := runtime.WriteResults(out, h, rs); err != nil {
		return err
	}
	metricName, _, _ := strings.Cut(h.Metric, " ")
	rep := runtime.Summarize(h.Plan, metricName, total, rs, exclude)
	rep.Print(c.App.Writer, out)
	return writeSummary(c.String("summary"), rep)
}

// readExclude reads a suspect-labels file; "" means none.
func readExclude(path string) (map[string]bool, error) {
	if path == "" {
		return nil, nil
	}
	sf, err := os.Open(path)
	if err != nil {
		return nil, usagef("--exclude-ids: %v", err)
	}
	defer sf.Close()
	exclude, err := runtime.ReadSuspects(sf)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return exclude, nil
}

// writeSummary writes rep as JSON to path; "" means nowhere.
func writeSummary(path string, rep *runtime.EvalReport) error {
	if path == "" {
		return nil
	}
	b, err := json.MarshalIndent(rep, "", "  ")
	if err == nil {
		err = os.WriteFile(path, append(b, '\n'), 0o644)
	}
	if err != nil {
		return fmt.Errorf("--summary: %w", err)
	}
	return nil
}

func evalAction(c *cli.Context) error {
	p, err := loadPlan(c.Args().Slice(), "eval")
	if err != nil {
		return err
	}
	if c.String("data") == "" {
		return usagef("eval needs --data FILE.jsonl")
	}
	m, err := metric.Parse(c.String("metric"), c.Float64("rel-tol"))
	if err != nil {
		return usagef("--metric: %v", err)
	}
	if c.Int("limit") < 0 {
		return usagef("--limit must be >= 0")
	}
	sel := runtime.Selection{Limit: c.Int("limit"), Shard: c.String("shard"),
		Fields: runtime.Fields{Input: c.String("input-field"), Label: c.String("label-field"), ID: c.String("id-field")}}
	if sel.Shard != "" {
		if _, _, err := runtime.ParseShard(sel.Shard); err != nil {
			return usagef("--shard: %v", err)
		}
	}
	f, err := os.Open(c.String("data"))
	if err != nil {
		return usagef("--data: %v", err)
	}
	items, dataDigest, err := sel.Read(f, p)
	f.Close()
	if err != nil {
		return fmt.Errorf("%s: %w", c.String("data"), err)
	}
	exclude, err := readExclude(c.String("exclude-ids"))
	if err != nil {
		return err
	}
	e, err := openEnv(c, p)
	if err != nil {
		return err
	}
	defer e.Close()
	prog, err := e.Runner.Prepare(p)
	if err != nil {
		return err
	}
	if err := prog.Warm(c.Context); err != nil {
		return err
	}
	resultsPath := c.String("results")
	if resultsPath == "" {
		if resultsPath, err = sel.ResultsPath(p, c.String("data")); err != nil {
			return err
		}
	}
	opts := runtime.EvalOptions{
		ResultsPath: resultsPath, Resume: c.Bool("resume"), Traces: e.Traces,
		Concurrency: c.Int("items-in-flight"), Exclude: exclude,
		DataDigest: dataDigest,
		Settings: map[string]string{
			"student_model": c.String("student-model"), "input_field": c.String("input-field"),
			"label_field": c.String("label-field"), "id_field": c.String("id-field"),
		},
	}
	sel.AddSettings(opts.Settings, len(items))
	if c.Bool("route-check") {
		opts.Routes = prog.RouteCheck()
	}
	var bar *tty.Bar
	if !c.Bool("quiet") {
		bar = tty.NewBar(c.App.ErrWriter, len(items), "eval")
		opts.Progress = func(done, _ int) { bar.Set(done) }
	}
	rep, err := runtime.Eval(c.Context, prog, items, m, opts)
	bar.Finish()
	if rep != nil {
		rep.Print(c.App.Writer, resultsPath)
		if serr := writeSummary(c.String("summary"), rep); serr != nil && err == nil {
			err = serr
		}
	}
	if err != nil && rep != nil && rep.Interrupted {
		return fmt.Errorf("eval interrupted after %d of %d items (%v); continue with --resume", rep.Accuracy.N, rep.Total, err)
	}
	if err == nil && rep != nil {
		err = rep.InfrastructureErr()
	}
	return err
}
