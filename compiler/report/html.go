package report

import (
	"fmt"
	"html"
	"html/template"
	"io"
	"math"
	"sort"
	"strings"

	"github.com/sgde-project/sgde/compiler"
	"github.com/sgde-project/sgde/compiler/pac"
	"github.com/sgde-project/sgde/plans"
)

// Data is everything the HTML report shows.
type Data struct {
	Task    string
	Teacher string
	Student string
	// Simulated says the student is the built-in simulator; the report says so prominently.
	Simulated bool
	Plan      *plans.Plan
	Curve     []compiler.CurvePoint
	Events    []compiler.Event
	Rows      []Row
	// EvalSet names the batch the table was computed on.
	EvalSet string
	PAC     pac.Report
	// Routed is the per-branch and router PAC section of a routed plan (nil otherwise).
	Routed     *pac.Routed
	StopReason string
	Cost       plans.Cost
}

// WriteHTML writes a self-contained HTML report: no script, no external resource.
func WriteHTML(w io.Writer, d Data) error {
	type round struct {
		Iteration  int
		Critique   []kv
		Candidates []compiler.Event
		Notes      []string
	}
	rounds := map[int]*round{}
	var order []int
	get := func(i int) *round {
		if rounds[i] == nil {
			rounds[i] = &round{Iteration: i}
			order = append(order, i)
		}
		return rounds[i]
	}
	for _, ev := range d.Events {
		switch ev.Kind {
		case compiler.EventCritique:
			r := get(ev.Iteration)
			for _, k := range sortedKeys(ev.Critique) {
				r.Critique = append(r.Critique, kv{k, ev.Critique[k]})
			}
		case compiler.EventCandidate:
			get(ev.Iteration).Candidates = append(get(ev.Iteration).Candidates, ev)
		case compiler.EventTeacher:
			get(ev.Iteration).Notes = append(get(ev.Iteration).Notes, ev.Reason)
		}
	}
	sort.Ints(order)
	var rs []*round
	for _, i := range order {
		rs = append(rs, rounds[i])
	}
	view := struct {
		Data
		Rounds   []*round
		CurveSVG template.HTML
		DAGSVG   template.HTML
	}{Data: d, Rounds: rs, CurveSVG: template.HTML(curveSVG(d.Curve)), DAGSVG: template.HTML(dagSVG(d.Plan))}
	return reportTmpl.Execute(w, view)
}

type kv struct{ K, V string }

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

var reportTmpl = template.Must(template.New("report").Funcs(template.FuncMap{
	"pct": func(f float64) string { return fmt.Sprintf("%.1f%%", 100*f) },
	"f3": func(f *float64) string {
		if f == nil {
			return ""
		}
		return fmt.Sprintf("%.3f", *f)
	},
	"pval": func(f *float64) string {
		if f == nil {
			return ""
		}
		return fmt.Sprintf("%.3g", *f)
	},
	"join": strings.Join,
	"acc":  func(b *bool) bool { return b != nil && *b },
}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>sgde compile report: {{.Task}}</title>
` + pageCSS + `</head><body>
<h1>Compile report: {{.Task}}</h1>
{{if .Simulated}}<p class="warn" id="simulated"><strong>The student is simulated.</strong> Its answers come from sgde's built-in student simulator, not from a language model: the figures below test the compiler's machinery and say nothing about any real model.</p>{{end}}
<table id="summary">
<tr><th>teacher</th><td>{{.Teacher}}</td></tr>
<tr><th>student</th><td>{{.Student}}</td></tr>
<tr><th>stopped because</th><td>{{.StopReason}}</td></tr>
<tr><th>PAC</th><td>k = {{.PAC.K}} subtask types; m &ge; (k ln 3 + ln 1/&delta;)/&epsilon; = {{.PAC.M}} for &epsilon; = {{.PAC.Epsilon}}, &delta; = {{.PAC.Delta}}; the training set has {{.PAC.TrainN}} items: {{if .PAC.Satisfied}}meets the bound{{else}}does not meet the bound{{end}}</td></tr>{{with .Routed}}
{{range .Branches}}<tr><th>PAC branch {{.Router}}.{{.Branch}}</th><td>k = {{.K}}, m = {{.M}} (&delta; = {{printf "%.3g" .Delta}}, router fixed first); {{.TrainN}} training items routed to it: {{if .Satisfied}}meet the bound{{else}}do not meet the bound{{end}}</td></tr>
{{end}}{{range .Router}}<tr><th>Router {{.Router}}</th><td>{{.Misrouted}} of {{.HeldoutN}} held-out items (those one branch alone gets right) misrouted; misrouting rate &le; {{printf "%.4f" .Upper}} (Hoeffding, &delta; = {{printf "%.3g" .Delta}})</td></tr>
{{end}}{{- end}}
<tr><th>compile cost</th><td>{{.Cost.Iterations}} iterations, {{.Cost.TeacherTokens}} teacher tokens, {{.Cost.StudentCalls}} student requests, {{printf "%.1f" .Cost.WallSeconds}} s</td></tr>
</table>
<h2>Baselines</h2>
<p>Accuracy on the {{.EvalSet}} with Wilson 95% intervals; same items, same student for every row.</p>
<table id="baselines"><tr><th>plan</th><th>accuracy</th><th>95% CI</th><th>recorded student answers</th><th>student calls/item</th><th>tokens/item</th><th>latency/item</th><th>compile cost</th></tr>
{{range .Rows}}<tr><td>{{.Name}}</td><td>{{pct .Accuracy}} ({{.Correct}}/{{.N}})</td><td>[{{pct .CILo}}, {{pct .CIHi}}]</td><td>{{.RecordedText}}</td><td>{{printf "%.2f" .CallsPer}}</td><td>{{printf "%.0f" .TokensPer}}</td><td>{{printf "%.0f" .LatencyMS}} ms</td><td>{{.CostText}}</td></tr>
{{end}}</table>
{{range .Rows}}{{$row := .Name}}{{$rec := .RecordedText}}{{range .Routers}}<h3>Router {{.Router}} of the {{$row}} plan</h3>
<p>Router accuracy {{pct .Accuracy}}: {{.Misrouted}} of {{.Checked}} checked items misrouted (the branch taken was wrong while another branch was right; the other branches were run on every item the plan got wrong). Student answers: {{$rec}}.</p>
<table class="router"><tr><th>branch</th><th>items</th><th>right</th><th>misrouted</th><th>by default</th></tr>
{{range .Branches}}<tr><td>{{.Branch}}</td><td>{{.Routed}}</td><td>{{.Correct}}</td><td>{{.Misrouted}}</td><td>{{.Defaulted}}</td></tr>
{{end}}</table>
{{end}}{{end}}<h2>Risk over iterations</h2>
<div id="curve">{{.CurveSVG}}</div>
<h2>Compiled plan</h2>
<div id="dag">{{.DAGSVG}}</div>
<h2>Edits</h2>
{{range .Rounds}}<h3>Iteration {{.Iteration}}</h3>
{{if .Critique}}<p>Critique (semantic gradient):</p><ul>{{range .Critique}}<li><code>{{.K}}</code>: {{.V}}</li>{{end}}</ul>{{end}}
{{range .Notes}}<p><em>teacher: {{.}}</em></p>{{end}}
{{if .Candidates}}<table class="edits"><tr><th>#</th><th>edits</th><th>held-out risk</th><th>McNemar p</th><th>decision</th></tr>
{{range .Candidates}}<tr class="{{if acc .Accepted}}acc{{else}}rej{{end}}"><td>{{.Candidate}}</td><td>{{join .Summary "; "}}{{if .Rationale}}<br><small>{{.Rationale}}</small>{{end}}</td><td>{{f3 .HeldoutRisk}}{{if .IncumbentRisk}} (was {{f3 .IncumbentRisk}}){{end}}{{if .Answers}}<br><small>{{.Answers}}</small>{{end}}</td><td>{{pval .PValue}}</td><td>{{if acc .Accepted}}accepted{{else}}rejected{{end}}: {{.Reason}}{{range .Probes}}<br><small>probe {{.}}</small>{{end}}{{range .Partitions}}<br><small>{{.Line}}</small>{{end}}</td></tr>
{{end}}</table>{{end}}
{{end}}
</body></html>
`))

// pageCSS is the style of every sgde report page (compile report, experiment report).
const pageCSS = `<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
h1,h2,h3{font-weight:600}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.acc{background:#e8f6e8}.rej{background:#fbecec}
.warn{background:#fff6d6;border:1px solid #e0c060;padding:.6em 1em}
code,pre{font:12px ui-monospace,monospace}pre{white-space:pre-wrap}
</style>`

// curveSVG draws train and held-out risk per iteration. The two series must stay apart when
// they coincide (a plan often scores the same on both): held-out is a wide pale line with round
// markers under a thin dashed train line with square markers, each named in a legend with its
// swatch.
func curveSVG(pts []compiler.CurvePoint) string {
	const w, h = 600.0, 260.0
	const left, right, top, bottom = 56.0, 16.0, 34.0, 44.0
	pw, ph := w-left-right, h-top-bottom
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="risk per iteration" font-family="Helvetica,Arial,sans-serif">`, w, h, w, h)
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`, left, top, pw, ph)
	// Axis titles.
	fmt.Fprintf(&b, `<text class="axis-title" x="%.1f" y="%.1f" font-size="11" text-anchor="middle">iteration</text>`, left+pw/2, h-6)
	fmt.Fprintf(&b, `<text class="axis-title" x="14" y="%.1f" font-size="11" text-anchor="middle" transform="rotate(-90 14 %.1f)">risk (1 &#8722; accuracy)</text>`, top+ph/2, top+ph/2)
	if len(pts) == 0 {
		fmt.Fprintf(&b, `<text x="%.0f" y="%.0f">no iterations</text></svg>`, left+20, top+ph/2)
		return b.String()
	}
	last := pts[len(pts)-1].Iteration
	x := func(i int) float64 { return left + pw*float64(i)/math.Max(1, float64(last)) }
	y := func(r float64) float64 { return top + ph*(1-r) }
	for _, tick := range []float64{0, 0.25, 0.5, 0.75, 1} {
		fmt.Fprintf(&b, `<line x1="%.0f" y1="%.1f" x2="%.0f" y2="%.1f" stroke="#eee"/><text x="%.0f" y="%.1f" font-size="10" text-anchor="end">%.2f</text>`,
			left, y(tick), left+pw, y(tick), left-4, y(tick)+3, tick)
	}
	for _, p := range pts {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="10" text-anchor="middle">%d</text>`, x(p.Iteration), top+ph+14, p.Iteration)
	}
	type series struct {
		name, class, color, width, dash string
		get                             func(compiler.CurvePoint) float64
		marker                          func(cx, cy float64, color string) string
	}
	circle := func(cx, cy float64, color string) string {
		return fmt.Sprintf(`<circle cx="%.1f" cy="%.1f" r="5" fill="%s" fill-opacity="0.5" stroke="%s"/>`, cx, cy, color, color)
	}
	square := func(cx, cy float64, color string) string {
		return fmt.Sprintf(`<rect x="%.1f" y="%.1f" width="6" height="6" fill="%s"/>`, cx-3, cy-3, color)
	}
	all := []series{
		{"held-out risk", "heldout", "#c33", "5", "", func(p compiler.CurvePoint) float64 { return p.HeldoutRisk }, circle},
		{"train risk", "train", "#1d4ed8", "1.5", "5 3", func(p compiler.CurvePoint) float64 { return p.TrainRisk }, square},
	}
	for _, s := range all {
		var path []string
		for _, p := range pts {
			path = append(path, fmt.Sprintf("%.1f,%.1f", x(p.Iteration), y(s.get(p))))
		}
		opacity := "1"
		if s.dash == "" {
			opacity = "0.45"
		}
		dash := ""
		if s.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, s.dash)
		}
		fmt.Fprintf(&b, `<g class="%s"><polyline fill="none" stroke="%s" stroke-width="%s" stroke-opacity="%s"%s points="%s"><title>%s</title></polyline>`,
			s.class, s.color, s.width, opacity, dash, strings.Join(path, " "), s.name)
		for _, p := range pts {
			fmt.Fprintf(&b, `<g><title>iteration %d: %s %.3f</title>%s</g>`, p.Iteration, s.name, s.get(p), s.marker(x(p.Iteration), y(s.get(p)), s.color))
		}
		b.WriteString(`</g>`)
	}
	// Legend: a swatch of each line with its marker, then its name.
	lx := left + pw - 250
	for i, s := range all {
		sx := lx + float64(i)*130
		dash := ""
		if s.dash != "" {
			dash = fmt.Sprintf(` stroke-dasharray="%s"`, s.dash)
		}
		opacity := "1"
		if s.dash == "" {
			opacity = "0.45"
		}
		fmt.Fprintf(&b, `<g class="legend"><line x1="%.1f" y1="16" x2="%.1f" y2="16" stroke="%s" stroke-width="%s" stroke-opacity="%s"%s/>%s<text x="%.1f" y="20" font-size="11">%s</text></g>`,
			sx, sx+28, s.color, s.width, opacity, dash, s.marker(sx+14, 16, s.color), sx+34, s.name)
	}
	b.WriteString(`</svg>`)
	return b.String()
}

// dagSVG draws the plan with the renderer of ` + "`sgde graph --format svg`" + `, so that the report and
// the command show the same picture (a consensus is a frame around its members and vote).
func dagSVG(p *plans.Plan) string {
	if p == nil {
		return ""
	}
	var b strings.Builder
	if err := plans.WriteGraph(&b, p, plans.GraphSVG); err != nil {
		return "<p>cannot draw the plan: " + html.EscapeString(err.Error()) + "</p>"
	}
	return b.String()
}
