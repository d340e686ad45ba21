package suite

import (
	"fmt"
	"html/template"
	"io"
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
