package suite

import (
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
	"text/tabwriter"

	"github.com/sgde-project/sgde/compiler/report"
)

// WriteTable prints one line per family: the four accuracies on the test split (with the share
// of recorded student answers behind each), the compiled plan's shape, its student calls per
// item, its compile cost and the McNemar test against the best baseline.
func WriteTable(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "family\tzero-shot\tchain of thought\tfew-shot bootstrap\tcompiled\tshape\tcalls/item\tcompile cost\tvs best baseline")
	for _, r := range results {
		cell := func(row report.Row) string {
			return fmt.Sprintf("%.1f%% (rec %s)", 100*row.Accuracy, row.RecordedText())
		}
		c := r.Rows[3]
		verdict := fmt.Sprintf("%s: +%d/-%d, p=%.3g", r.Best, r.Wins, r.Losses, r.PValue)
		if r.Worse {
			verdict += " WORSE"
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%.2f\t%d calls, %.0fs\t%s\n", r.Family, cell(r.Rows[0]), cell(r.Rows[1]), cell(r.Rows[2]),
			cell(c), r.Shape, c.CallsPer, c.CompileStudentCalls, c.CompileSeconds, verdict)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	shapes := map[string]bool{}
	for _, r := range results {
		shapes[r.Shape] = true
	}
	_, err := fmt.Fprintf(w, "%d families, %d distinct plan shapes. \"rec\" is the share of student answers that were a real model's recorded outputs; the rest were simulated (simulated accuracy is no evidence about real models).\n",
		len(results), len(shapes))
	return err
}

// WriteAblation prints, per family, the test accuracy and shape reached with only prompt edits,
// only offload, only consensus, only split and fuse, and all actions (families run without
// ablation are skipped).
func WriteAblation(w io.Writer, results []Result) error {
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	head := []string{"family"}
	for _, a := range ablations {
		head = append(head, a.name)
	}
	fmt.Fprintln(tw, strings.Join(append(head, "all"), "\t"))
	n := 0
	for _, r := range results {
		if len(r.Ablations) == 0 {
			continue
		}
		n++
		cells := []string{r.Family}
		for _, a := range r.Ablations {
			cells = append(cells, fmt.Sprintf("%.1f%% %s (%.2f calls, rec %s)", 100*a.Accuracy, a.Shape, a.CallsPer, a.Recorded))
		}
		fmt.Fprintln(tw, strings.Join(cells, "\t"))
	}
	if n == 0 {
		return nil
	}
	return tw.Flush()
}

var page = template.Must(template.New("suite").Funcs(template.FuncMap{
	"pct": func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"short": func(s string) string {
		// Inline code-node sources are long: show the plan's structure, not the Go.
		var out []string
		skip := -1
		for _, l := range strings.Split(s, "\n") {
			ind := len(l) - len(strings.TrimLeft(l, " "))
			if skip >= 0 && (ind > skip || strings.TrimSpace(l) == "") {
				continue
			}
			skip = -1
			if strings.HasPrefix(strings.TrimSpace(l), "source: |") {
				out = append(out, l[:ind]+"source: | # vetted module, omitted here")
				skip = ind
				continue
			}
			out = append(out, l)
		}
		return strings.Join(out, "\n")
	},
}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>sgde suite</title>
<style>body{font-family:sans-serif;max-width:1100px;margin:2em auto}table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}td:first-child,th:first-child{text-align:left}pre{background:#f6f6f6;padding:8px;overflow:auto;max-height:30em}.shape{font-family:monospace;font-weight:bold}</style>
</head><body>
<h1>sgde suite: {{len .}} families</h1>
<p>Accuracy on each family's test split, never seen by the compiler. "recorded" is the share of student answers that were a real model's recorded outputs (code-davinci-002, BIG-Bench Hard); the rest were simulated by sgde's simulator. <b>Simulated accuracy tests sgde's machinery, not real models.</b></p>
<table><tr><th>family</th><th>zero-shot</th><th>chain of thought</th><th>few-shot bootstrap</th><th>compiled</th><th>plan shape</th><th>calls/item</th><th>compile cost</th><th>vs best baseline (McNemar)</th></tr>
{{range .}}<tr><td><a href="#{{.Family}}">{{.Family}}</a></td>{{range .Rows}}<td>{{pct .Accuracy}} <small>(recorded {{.RecordedText}})</small></td>{{end}}<td class="shape">{{.Shape}}</td><td>{{printf "%.2f" (index .Rows 3).CallsPer}}</td><td>{{(index .Rows 3).CostText}}</td><td>{{.Best}}: +{{.Wins}}/-{{.Losses}}, p={{printf "%.3g" .PValue}}{{if .Worse}} <b>worse</b>{{end}}</td></tr>
{{end}}</table>
{{range .}}<h2 id="{{.Family}}">{{.Family}}: <span class="shape">{{.Shape}}</span></h2>
<p>Stopped: {{.Stop}}. {{printf "%.0f" .Seconds}} s.</p>
{{if .Ablations}}<p>Ablation (test accuracy, shape): {{range .Ablations}}{{.Name}}: {{pct .Accuracy}} <span class="shape">{{.Shape}}</span>; {{end}}</p>{{end}}
<pre>{{short .PlanYAML}}</pre>
{{end}}</body></html>
`))

// WriteHTML writes the suite's page: the table and every family's compiled plan (code-node
// sources elided).
func WriteHTML(w io.Writer, results []Result) error { return page.Execute(w, results) }

// WriteMixture prints the mixture table: per family and pooled, the four plans' test accuracy
// (with the share of recorded student answers behind it and student calls per item), the
// routed plan's McNemar tests against the monolithic and the per-family plans, where its router
// sent each family, and what every compile cost.
func WriteMixture(w io.Writer, r *MixtureResult) error {
	fmt.Fprintf(w, "Mixture %s: %s; per family %d train + %d held-out (mixed, shuffled, opaque ids) and %d test items, seed %d.\n",
		r.Name, strings.Join(r.Families, ", "), r.Train, r.Heldout, r.Test, r.Seed)
	tw := tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "family\tzero-shot\tmonolithic\trouted\tper-family\trouted vs monolithic\trouted vs per-family\trouter: branches (misrouted/routable)")
	cell := func(row report.Row) string {
		return fmt.Sprintf("%.1f%% (%d/%d, rec %s, %.2f calls)", 100*row.Accuracy, row.Correct, row.N, row.RecordedText(), row.CallsPer)
	}
	test := func(p Paired) string { return fmt.Sprintf("+%d/-%d, p=%.3g", p.Wins, p.Losses, p.P) }
	for _, f := range r.PerFamily {
		route := "no router"
		if f.Branches != nil {
			var names []string
			for b := range f.Branches {
				names = append(names, b)
			}
			sort.Strings(names)
			var parts []string
			for _, b := range names {
				name := b
				if name == "" {
					name = "(failed)"
				}
				parts = append(parts, fmt.Sprintf("%s %d", name, f.Branches[b]))
			}
			route = fmt.Sprintf("%s (%d/%d)", strings.Join(parts, ", "), f.Misrouted, f.Routable)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n", f.Family, cell(f.Rows[0]), cell(f.Rows[1]), cell(f.Rows[2]), cell(f.Rows[3]),
			test(f.RoutedVsMonolithic), test(f.RoutedVsAlone), route)
	}
	p := r.Pooled
	route := "no router"
	if r.Routers > 0 {
		acc := 1.0
		if r.Routable > 0 {
			acc = 1 - float64(r.Misrouted)/float64(r.Routable)
		}
		route = fmt.Sprintf("routable accuracy %.1f%% (%d misrouted of %d routable)", 100*acc, r.Misrouted, r.Routable)
	}
	fmt.Fprintf(tw, "all families\t%s\t%s\t%s\t%s\t%s\t\t%s\n", cell(p[0]), cell(p[1]), cell(p[2]), cell(p[3]), test(r.RoutedVsMonolithic), route)
	if err := tw.Flush(); err != nil {
		return err
	}
	fmt.Fprintln(w, "\nCompiles (student requests, teacher tokens, wall time, rounds, shape):")
	tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
	for _, c := range r.Compiles {
		fmt.Fprintf(tw, "%s\t%d calls\t%d tokens\t%.0fs\t%d rounds\theld-out risk %.3f\t%s\t%s\n", c.Name, c.StudentCalls, c.TeacherTokens, c.Seconds, c.Iterations, c.HeldoutRisk, c.Shape, c.Stop)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	if len(r.Splits) > 0 {
		fmt.Fprintf(w, "\nRouted compile: candidates that won and lost at least %d held-out items each (the router stage's trigger), by family (+wins/-losses against the incumbent):\n", splitMin)
		tw = tabwriter.NewWriter(w, 2, 4, 2, ' ', 0)
		for _, sc := range r.Splits {
			cells := []string{fmt.Sprintf("iteration %d candidate %d (%s): held-out +%d/-%d", sc.Iteration, sc.Candidate, sc.Summary, sc.Wins, sc.Losses)}
			for _, f := range sc.PerFamily {
				cells = append(cells, fmt.Sprintf("%s train +%d/-%d held-out +%d/-%d", f.Family, f.TrainWins, f.TrainLosses, f.HeldWins, f.HeldLosses))
			}
			fmt.Fprintln(tw, strings.Join(cells, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	for _, line := range r.Routing {
		fmt.Fprintf(w, "Router stage: %s\n", line)
	}
	_, err := fmt.Fprintln(w, "\"rec\" is the share of student answers that were a real model's recorded outputs; the rest were simulated (simulated accuracy is no evidence about real models).\n"+
		"Router: misrouted items are those some branch run alone gets right, sent to a branch that gets them wrong.")
	return err
}
