package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// ExperimentPage is what the experiment report shows: a learning curve with confidence bands,
// the PAC bounds of the compiled plans, and tables. It is filled in by package experiment; the
// page shares the compile report's style.
type ExperimentPage struct {
	Task, Student, Teacher string
	// Simulated says the student is sgde's simulator; the page says so at the top.
	Simulated bool
	// Setup describes the split and the runs in one sentence.
	Setup  string
	Series []CurveSeries
	// Runs are the compiled plan of every run, drawn as dots with where the run stopped.
	Runs []CurveDot
	// PAC are the sample bounds m(k, ε, δ) of the compiled plans' k, drawn as vertical lines.
	PAC []PACMark
	// Table is the paper-like table (one row per plan, one column per training size); Ablation
	// the restricted compiles; RunTable one row per run.
	Table, Ablation, RunTable Table
	// Answers says which share of student answers was recorded from a real model; Totals the
	// student and teacher calls of the whole study.
	Answers, Totals string
	// Notes explain the figures, above all a baseline that underperforms.
	Notes []string
}

// CurveSeries is one plan's accuracy by training size.
type CurveSeries struct {
	Name, Color string
	// Dashed draws the line dashed (ablations).
	Dashed bool
	Points []CurvePointAcc
}

// CurvePointAcc is an accuracy at a training size with its 95% interval.
type CurvePointAcc struct {
	X            int
	Acc, Lo, Hi  float64
	Correct, Num int
}

// CurveDot is one run's compiled accuracy; Title says where the run stopped.
type CurveDot struct {
	X     int
	Acc   float64
	Title string
}

// PACMark is the PAC bound m for plans with k subtask types.
type PACMark struct {
	K, M int
}

// Table is a plain table of text cells.
type Table struct {
	Head []string
	Rows [][]string
}

// WriteExperimentHTML writes the experiment report: self-contained, no script.
func WriteExperimentHTML(w io.Writer, p ExperimentPage) error {
	return experimentTmpl.Execute(w, struct {
		ExperimentPage
		SVG template.HTML
	}{p, template.HTML(learningSVG(p))})
}

var experimentTmpl = template.Must(template.New("experiment").Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sgde experiment: {{.Task}}</title>
` + pageCSS + `
<style>.legend-key{display:inline-block;width:1.6em;height:.35em;vertical-align:middle;margin-right:.3em}</style>
</head><body>
<h1>Experiment: {{.Task}}</h1>
{{if .Simulated}}<p class="warn" id="simulated"><strong>The student is simulated.</strong> Its answers come from sgde's built-in student simulator (replaying a real model's recorded answers where the data has them), not from the small model the paper studies: every figure below tests sgde's machinery and is <strong>not</strong> evidence about any real model.</p>{{end}}
<table id="summary">
<tr><th>student</th><td>{{.Student}}</td></tr>
<tr><th>teacher</th><td>{{.Teacher}}</td></tr>
<tr><th>setup</th><td>{{.Setup}}</td></tr>
<tr><th>student answers</th><td>{{.Answers}}</td></tr>
<tr><th>calls</th><td>{{.Totals}}</td></tr>
</table>
<h2>Accuracy against training size</h2>
<p>Test accuracy of each plan, pooled over the seeds of a size, with its Wilson 95% band; dots are the compiled plan of each run (hover for where it stopped); vertical lines are the PAC sample bound m(k, &epsilon;, &delta;) for the compiled plans' k. Lines that coincide hide each other: the table below has every value.</p>
<div id="curve">{{.SVG}}</div>
{{if .Notes}}<h2>Reading the figures</h2><ul id="notes">{{range .Notes}}<li>{{.}}</li>{{end}}</ul>{{end}}
<h2>Table</h2>
<table id="table"><tr>{{range .Table.Head}}<th>{{.}}</th>{{end}}</tr>
{{range .Table.Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
{{if .Ablation.Rows}}<h2>Ablation</h2>
<p>Each restricted compile may use only one kind of edit; test accuracy pooled over seeds.</p>
<table id="ablation"><tr>{{range .Ablation.Head}}<th>{{.}}</th>{{end}}</tr>
{{range .Ablation.Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>{{end}}
<h2>Runs</h2>
<table id="runs"><tr>{{range .RunTable.Head}}<th>{{.}}</th>{{end}}</tr>
{{range .RunTable.Rows}}<tr>{{range .}}<td>{{.}}</td>{{end}}</tr>
{{end}}</table>
</body></html>
`))

// learningSVG draws accuracy against training size on a log2 axis that reaches the largest
// PAC bound, so that the bound is visible even when every size is below it.
func learningSVG(p ExperimentPage) string {
	const w, h = 760.0, 360.0
	const left, right, top, bottom = 56.0, 180.0, 20.0, 44.0
	pw, ph := w-left-right, h-top-bottom
	lo, hi := math.Inf(1), math.Inf(-1)
	see := func(v int) {
		if v > 0 {
			lo, hi = math.Min(lo, float64(v)), math.Max(hi, float64(v))
		}
	}
	for _, s := range p.Series {
		for _, pt := range s.Points {
			see(pt.X)
		}
	}
	for _, m := range p.PAC {
		see(m.M)
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="accuracy against training size" font-family="Helvetica,Arial,sans-serif">`, w, h, w, h)
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`, left, top, pw, ph)
	fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">training items (log scale)</text>`, left+pw/2, h-6)
	fmt.Fprintf(&b, `<text x="14" y="%.1f" font-size="11" text-anchor="middle" transform="rotate(-90 14 %.1f)">test accuracy</text>`, top+ph/2, top+ph/2)
	if math.IsInf(lo, 1) {
		b.WriteString(`<text x="80" y="100">no runs</text></svg>`)
		return b.String()
	}
	l0, l1 := math.Log2(lo)-0.3, math.Log2(hi)+0.3
	x := func(v float64) float64 { return left + pw*(math.Log2(v)-l0)/(l1-l0) }
	y := func(a float64) float64 { return top + ph*(1-a) }
	for _, t := range []float64{0, 0.25, 0.5, 0.75, 1} {
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#eee"/><text x="%.0f" y="%.1f" font-size="10" text-anchor="end">%.0f%%</text>`,
			left, y(t), left+pw, y(t), left-4, y(t)+3, 100*t)
	}
	for v := 1.0; v <= hi*2; v *= 2 {
		if v < lo/1.3 || v > hi*1.3 {
			continue
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#eee"/><text x="%.1f" y="%.0f" font-size="10" text-anchor="middle">%.0f</text>`,
			x(v), top, x(v), top+ph, x(v), top+ph+14, v)
	}
	// The bound's label sits mid-height, where accuracy curves rarely run.
	for _, m := range p.PAC {
		fmt.Fprintf(&b, `<g class="pac"><line x1="%.1f" y1="%.0f" x2="%.1f" y2="%.0f" stroke="#555" stroke-width="1.5" stroke-dasharray="2 3"/><text x="%.1f" y="%.0f" font-size="10" text-anchor="middle" fill="#333" transform="rotate(-90 %.1f %.0f)">PAC m=%d (k=%d)</text></g>`,
			x(float64(m.M)), top, x(float64(m.M)), top+ph, x(float64(m.M))-4, top+ph/2, x(float64(m.M))-4, top+ph/2, m.M, m.K)
	}
	for _, s := range p.Series {
		if len(s.Points) == 0 {
			continue
		}
		var up, down, line []string
		for _, pt := range s.Points {
			up = append(up, fmt.Sprintf("%.1f,%.1f", x(float64(pt.X)), y(pt.Hi)))
			line = append(line, fmt.Sprintf("%.1f,%.1f", x(float64(pt.X)), y(pt.Acc)))
		}
		for i := len(s.Points) - 1; i >= 0; i-- {
			pt := s.Points[i]
			down = append(down, fmt.Sprintf("%.1f,%.1f", x(float64(pt.X)), y(pt.Lo)))
		}
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 3"`
		}
		fmt.Fprintf(&b, `<g class="series"><polygon points="%s %s" fill="%s" fill-opacity="0.10" stroke="none"/><polyline fill="none" stroke="%s" stroke-width="2"%s points="%s"><title>%s</title></polyline>`,
			strings.Join(up, " "), strings.Join(down, " "), s.Color, s.Color, dash, strings.Join(line, " "), template.HTMLEscapeString(s.Name))
		for _, pt := range s.Points {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>%s, n=%d: %.1f%% (%d/%d), 95%% [%.1f, %.1f]</title></circle>`,
				x(float64(pt.X)), y(pt.Acc), s.Color, template.HTMLEscapeString(s.Name), pt.X, 100*pt.Acc, pt.Correct, pt.Num, 100*pt.Lo, 100*pt.Hi)
		}
		b.WriteString(`</g>`)
	}
	for i, d := range p.Runs {
		// Runs of one size spread a little sideways so that equal accuracies stay visible.
		off := float64(i%3-1) * 5
		fmt.Fprintf(&b, `<g class="run"><rect x="%.1f" y="%.1f" width="7" height="7" fill="none" stroke="#000"/><title>%s</title></g>`,
			x(float64(d.X))+off-3.5, y(d.Acc)-3.5, template.HTMLEscapeString(d.Title))
	}
	// Legend on the right.
	lx := left + pw + 14
	for i, s := range p.Series {
		ly := top + 10 + float64(i)*18
		dash := ""
		if s.Dashed {
			dash = ` stroke-dasharray="6 3"`
		}
		fmt.Fprintf(&b, `<g class="legend"><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s" stroke-width="2"%s/><text x="%.1f" y="%.1f" font-size="11">%s</text></g>`,
			lx, ly, lx+24, ly, s.Color, dash, lx+30, ly+4, template.HTMLEscapeString(s.Name))
	}
	ly := top + 10 + float64(len(p.Series))*18
	fmt.Fprintf(&b, `<g class="legend"><rect x="%.1f" y="%.1f" width="7" height="7" fill="none" stroke="#000"/><text x="%.1f" y="%.1f" font-size="11">one compiled run</text></g>`, lx+8, ly-3.5, lx+30, ly+4)
	ly += 18
	fmt.Fprintf(&b, `<g class="legend"><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555" stroke-width="1.5" stroke-dasharray="2 3"/><text x="%.1f" y="%.1f" font-size="11">PAC bound m</text></g>`, lx, ly, lx+24, ly, lx+30, ly+4)
	b.WriteString(`</svg>`)
	return b.String()
}
