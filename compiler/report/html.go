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
	EvalSet    string
	PAC        pac.Report
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
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:2em auto;max-width:70em;color:#222;padding:0 1em}
h1,h2,h3{font-weight:600}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:.3em .6em;text-align:left;vertical-align:top}
th{background:#f3f3f3}.acc{background:#e8f6e8}.rej{background:#fbecec}
.warn{background:#fff6d6;border:1px solid #e0c060;padding:.6em 1em}
code,pre{font:12px ui-monospace,monospace}pre{white-space:pre-wrap}
</style></head><body>
<h1>Compile report: {{.Task}}</h1>
{{if .Simulated}}<p class="warn" id="simulated"><strong>The student is simulated.</strong> Its answers come from sgde's built-in student simulator, not from a language model: the figures below test the compiler's machinery and say nothing about any real model.</p>{{end}}
<table id="summary">
<tr><th>teacher</th><td>{{.Teacher}}</td></tr>
<tr><th>student</th><td>{{.Student}}</td></tr>
<tr><th>stopped because</th><td>{{.StopReason}}</td></tr>
<tr><th>PAC</th><td>k = {{.PAC.K}} subtask types; m &ge; (k ln 3 + ln 1/&delta;)/&epsilon; = {{.PAC.M}} for &epsilon; = {{.PAC.Epsilon}}, &delta; = {{.PAC.Delta}}; the training set has {{.PAC.TrainN}} items: {{if .PAC.Satisfied}}meets the bound{{else}}does not meet the bound{{end}}</td></tr>
<tr><th>compile cost</th><td>{{.Cost.Iterations}} iterations, {{.Cost.TeacherTokens}} teacher tokens, {{.Cost.StudentCalls}} student requests, {{printf "%.1f" .Cost.WallSeconds}} s</td></tr>
</table>
<h2>Baselines</h2>
<p>Accuracy on the {{.EvalSet}} with Wilson 95% intervals; same items, same student for every row.</p>
<table id="baselines"><tr><th>plan</th><th>accuracy</th><th>95% CI</th><th>recorded student answers</th><th>student calls/item</th><th>tokens/item</th><th>latency/item</th><th>compile cost</th></tr>
{{range .Rows}}<tr><td>{{.Name}}</td><td>{{pct .Accuracy}} ({{.Correct}}/{{.N}})</td><td>[{{pct .CILo}}, {{pct .CIHi}}]</td><td>{{.RecordedText}}</td><td>{{printf "%.2f" .CallsPer}}</td><td>{{printf "%.0f" .TokensPer}}</td><td>{{printf "%.0f" .LatencyMS}} ms</td><td>{{.CostText}}</td></tr>
{{end}}</table>
<h2>Risk over iterations</h2>
<div id="curve">{{.CurveSVG}}</div>
<h2>Compiled plan</h2>
<div id="dag">{{.DAGSVG}}</div>
<h2>Edits</h2>
{{range .Rounds}}<h3>Iteration {{.Iteration}}</h3>
{{if .Critique}}<p>Critique (semantic gradient):</p><ul>{{range .Critique}}<li><code>{{.K}}</code>: {{.V}}</li>{{end}}</ul>{{end}}
{{range .Notes}}<p><em>teacher: {{.}}</em></p>{{end}}
{{if .Candidates}}<table class="edits"><tr><th>#</th><th>edits</th><th>held-out risk</th><th>McNemar p</th><th>decision</th></tr>
{{range .Candidates}}<tr class="{{if acc .Accepted}}acc{{else}}rej{{end}}"><td>{{.Candidate}}</td><td>{{join .Summary "; "}}{{if .Rationale}}<br><small>{{.Rationale}}</small>{{end}}</td><td>{{f3 .HeldoutRisk}}{{if .IncumbentRisk}} (was {{f3 .IncumbentRisk}}){{end}}</td><td>{{pval .PValue}}</td><td>{{if acc .Accepted}}accepted{{else}}rejected{{end}}: {{.Reason}}{{range .Probes}}<br><small>probe {{.}}</small>{{end}}</td></tr>
{{end}}</table>{{end}}
{{end}}
</body></html>
`))

// curveSVG draws train and held-out risk per iteration.
func curveSVG(pts []compiler.CurvePoint) string {
	const w, h, pad = 560.0, 220.0, 36.0
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="risk per iteration">`, w, h, w, h)
	fmt.Fprintf(&b, `<rect x="%.0f" y="%.0f" width="%.0f" height="%.0f" fill="none" stroke="#999"/>`, pad, pad/2, w-1.5*pad, h-1.5*pad)
	if len(pts) == 0 {
		b.WriteString(`<text x="50" y="100">no iterations</text></svg>`)
		return b.String()
	}
	last := pts[len(pts)-1].Iteration
	x := func(i int) float64 { return pad + (w-1.5*pad)*float64(i)/math.Max(1, float64(last)) }
	y := func(r float64) float64 { return pad/2 + (h-1.5*pad)*(1-r) }
	for _, tick := range []float64{0, 0.25, 0.5, 0.75, 1} {
		fmt.Fprintf(&b, `<text x="4" y="%.1f" font-size="10">%.2f</text>`, y(tick)+3, tick)
	}
	for _, s := range []struct {
		color string
		get   func(compiler.CurvePoint) float64
		name  string
	}{{"#c33", func(p compiler.CurvePoint) float64 { return p.HeldoutRisk }, "held-out risk"}, {"#36c", func(p compiler.CurvePoint) float64 { return p.TrainRisk }, "train risk"}} {
		var path []string
		for _, p := range pts {
			path = append(path, fmt.Sprintf("%.1f,%.1f", x(p.Iteration), y(s.get(p))))
		}
		fmt.Fprintf(&b, `<polyline fill="none" stroke="%s" stroke-width="2" points="%s"><title>%s</title></polyline>`, s.color, strings.Join(path, " "), s.name)
		for _, p := range pts {
			fmt.Fprintf(&b, `<circle cx="%.1f" cy="%.1f" r="3" fill="%s"><title>iteration %d: %s %.3f</title></circle>`, x(p.Iteration), y(s.get(p)), s.color, p.Iteration, s.name, s.get(p))
		}
	}
	for _, p := range pts {
		fmt.Fprintf(&b, `<text x="%.1f" y="%.0f" font-size="10" text-anchor="middle">%d</text>`, x(p.Iteration), h-6, p.Iteration)
	}
	fmt.Fprintf(&b, `<text x="%.0f" y="12" font-size="11" fill="#c33">held-out risk</text><text x="%.0f" y="12" font-size="11" fill="#36c">train risk</text></svg>`, w-200, w-110)
	return b.String()
}

// dagSVG draws the plan as layered boxes: each node one layer below everything it reads.
func dagSVG(p *plans.Plan) string {
	if p == nil {
		return ""
	}
	layer := map[string]int{}
	var depth func(id string, seen map[string]bool) int
	depth = func(id string, seen map[string]bool) int {
		if l, ok := layer[id]; ok {
			return l
		}
		if seen[id] {
			return 0
		}
		seen[id] = true
		l := 1
		for _, d := range p.Dependencies(id) {
			l = max(l, depth(d, seen)+1)
		}
		layer[id] = l
		return l
	}
	maxL := 0
	for _, n := range p.Nodes {
		maxL = max(maxL, depth(n.ID, map[string]bool{}))
	}
	rows := make([][]string, maxL+2)
	rows[0] = []string{"inputs"}
	for _, n := range p.Nodes {
		rows[layer[n.ID]] = append(rows[layer[n.ID]], n.ID)
	}
	rows[maxL+1] = []string{"output"}
	const bw, bh, gx, gy = 170.0, 34.0, 30.0, 40.0
	width := 0.0
	for _, r := range rows {
		width = math.Max(width, float64(len(r))*(bw+gx)+gx)
	}
	width += bw / 2 // room for edges that bend around skipped layers
	height := float64(len(rows))*(bh+gy) + gy
	pos := map[string][2]float64{}
	for li, r := range rows {
		off := (width - bw/2 - float64(len(r))*(bw+gx) + gx) / 2
		for i, id := range r {
			pos[id] = [2]float64{off + float64(i)*(bw+gx), gy/2 + float64(li)*(bh+gy)}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="plan graph">`, width, height, width, height)
	b.WriteString(`<defs><marker id="arr" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="6" markerHeight="6" orient="auto"><path d="M0,0L10,5L0,10z" fill="#666"/></marker></defs>`)
	line := func(from, to string, dashed bool) {
		a, b2 := pos[from], pos[to]
		dash := ""
		if dashed {
			dash = ` stroke-dasharray="4 3"`
		}
		x1, y1, x2, y2 := a[0]+bw/2, a[1]+bh, b2[0]+bw/2, b2[1]
		if y2-y1 > gy+1 {
			// An edge that skips layers bends around the boxes in between.
			fmt.Fprintf(&b, `<path d="M%.1f,%.1f Q%.1f,%.1f %.1f,%.1f" fill="none" stroke="#666"%s marker-end="url(#arr)"/>`,
				x1, y1, math.Max(x1, x2)+bw*0.75, (y1+y2)/2, x2, y2, dash)
			return
		}
		fmt.Fprintf(&b, `<line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#666"%s marker-end="url(#arr)"/>`, x1, y1, x2, y2, dash)
	}
	for _, n := range p.Nodes {
		readsInput := false
		for _, d := range p.Dependencies(n.ID) {
			line(d, n.ID, n.Consensus != nil)
		}
		if n.LLM != nil {
			readsInput = strings.Contains(n.LLM.Prompt+n.LLM.System, "inputs.")
		}
		if n.Code != nil {
			for _, r := range n.Code.Inputs {
				readsInput = readsInput || strings.HasPrefix(r, "inputs.")
			}
		}
		if readsInput {
			line("inputs", n.ID, false)
		}
	}
	if out, _, _ := strings.Cut(p.Output, "."); pos[out] != [2]float64{} {
		line(out, "output", false)
	}
	colors := map[plans.Substrate]string{plans.SubstrateLLM: "#dde8fb", plans.SubstrateCode: "#e2f4e2", plans.SubstrateConsensus: "#f8e6cf"}
	for _, r := range rows {
		for _, id := range r {
			at := pos[id]
			fill, label := "#eee", id
			if n := p.Node(id); n != nil {
				fill = colors[n.Substrate]
				label = fmt.Sprintf("%s (%s", id, n.Substrate)
				if n.Consensus != nil {
					label += fmt.Sprintf(" n=%d", n.Consensus.N)
				}
				label += ")"
			}
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.0f" height="%.0f" rx="5" fill="%s" stroke="#555"/><text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%s</text>`,
				at[0], at[1], bw, bh, fill, at[0]+bw/2, at[1]+bh/2+4, html.EscapeString(label))
		}
	}
	b.WriteString(`</svg>`)
	return b.String()
}
