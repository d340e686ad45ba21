package plans

import (
	"fmt"
	"html"
	"io"
	"math"
	"sort"
	"strings"
)

// GraphSVG is a self-contained SVG picture (no script, no external resource): what the compile
// report embeds, and what `sgde graph --format svg` prints without Graphviz.
const GraphSVG GraphFormat = "svg"

// svgVertex is one box of the SVG picture.
type svgVertex struct {
	id, label, class string
	cluster          string // the consensus node it is drawn inside, or ""
	layer, col       int
	x, y, w, h       float64
}

const (
	svgBoxW, svgBoxH   = 180.0, 40.0
	svgGapX, svgGapY   = 36.0, 46.0
	svgMargin, svgPadC = 20.0, 14.0
	svgTitleH          = 18.0
)

// svgStyle is the fill and stroke of each kind of box, the colours of the Mermaid and DOT
// pictures.
var svgStyle = map[string][2]string{
	"input":  {"#f4f4f4", "#666"},
	"llm":    {"#dbeafe", "#1d4ed8"},
	"code":   {"#ffedd5", "#c2410c"},
	"vote":   {"#dcfce7", "#15803d"},
	"output": {"#f4f4f4", "#111"},
	"router": {"#f3e8ff", "#7e22ce"},
}

// writeSVG lays the drawing out in layers (each vertex one layer below everything it reads) and
// draws it with the same vertices, edges, shapes and colours as writeMermaid and writeDOT: a
// consensus is a dashed green frame around its members and its vote.
func writeSVG(w io.Writer, p *Plan) error {
	d := draw(p)
	vs := map[string]*svgVertex{}
	var order []string
	add := func(v *svgVertex) {
		vs[v.id] = v
		order = append(order, v.id)
	}
	for _, in := range p.Inputs {
		add(&svgVertex{id: gid("in", in.Name), label: in.Name + ": " + string(in.Type), class: "input"})
	}
	frames := map[string]string{} // consensus id -> label
	var frameOrder []string
	for i := range p.Nodes {
		n := &p.Nodes[i]
		switch {
		case n.Substrate == SubstrateConsensus:
			frames[n.ID] = d.label(n)
			frameOrder = append(frameOrder, n.ID)
			if n.Consensus != nil {
				for _, m := range n.Consensus.Members {
					if mn := p.Node(m); mn != nil && p.ConsensusOf(m) == n.ID {
						add(&svgVertex{id: gid("n", m), label: d.label(mn), class: string(mn.Substrate), cluster: n.ID})
					}
				}
				add(&svgVertex{id: gid("vote", n.ID), label: fmt.Sprintf("vote %s\nover %s", n.Consensus.Vote.Method, n.Consensus.Over), class: "vote", cluster: n.ID})
			}
		case n.Substrate == SubstrateRouter && n.Router != nil:
			// Each branch is a frame holding its sub-plan's nodes (consensus members and nested
			// routers flattened into it), between the route node and the router's output.
			add(&svgVertex{id: gid("n", n.ID), label: d.label(n), class: "router"})
			var flat func(sub *Plan, ns, cluster string)
			flat = func(sub *Plan, ns, cluster string) {
				for k := range sub.Nodes {
					sn := &sub.Nodes[k]
					switch sn.Substrate {
					case SubstrateConsensus:
						add(&svgVertex{id: gid("vote", ns+sn.ID), label: d.label(sn), class: "vote", cluster: cluster})
					case SubstrateRouter:
						add(&svgVertex{id: gid("n", ns+sn.ID), label: d.label(sn), class: "router", cluster: cluster})
						if sn.Router != nil {
							for _, br := range sn.Router.Branches {
								if bp := br.SubPlan(); bp != nil {
									flat(bp, ns+sn.ID+"."+br.Name+".", cluster)
								}
							}
						}
						add(&svgVertex{id: gid("out", ns+sn.ID), label: sn.ID + " output", class: "router", cluster: cluster})
					default:
						add(&svgVertex{id: gid("n", ns+sn.ID), label: d.label(sn), class: string(sn.Substrate), cluster: cluster})
					}
				}
			}
			for _, br := range n.Router.Branches {
				c := n.ID + "." + br.Name
				frames[c] = "branch " + br.Name
				frameOrder = append(frameOrder, c)
				if sub := br.SubPlan(); sub != nil {
					flat(sub, c+".", c)
				}
			}
			add(&svgVertex{id: gid("out", n.ID), label: n.ID + " output", class: "router"})
		case p.ConsensusOf(n.ID) == "":
			add(&svgVertex{id: gid("n", n.ID), label: d.label(n), class: string(n.Substrate)})
		}
	}
	add(&svgVertex{id: "output", label: "output", class: "output"})

	// Layers: longest path from a source (the drawing of a valid plan has no cycle).
	preds := map[string][]string{}
	for _, e := range d.edges {
		if vs[e.from] != nil && vs[e.to] != nil {
			preds[e.to] = append(preds[e.to], e.from)
		}
	}
	done := map[string]bool{}
	var layerOf func(id string, depth int) int
	layerOf = func(id string, depth int) int {
		v := vs[id]
		if done[id] || depth > len(vs) {
			return v.layer
		}
		l := 0
		for _, f := range preds[id] {
			l = max(l, layerOf(f, depth+1)+1)
		}
		v.layer, done[id] = l, true
		return l
	}
	maxLayer := 0
	for _, id := range order {
		maxLayer = max(maxLayer, layerOf(id, 0))
	}
	// The output right below everything else.
	below := 0
	for _, id := range order {
		if id != "output" {
			below = max(below, vs[id].layer+1)
		}
	}
	vs["output"].layer = below
	layers := vs["output"].layer + 1

	// Columns: each consensus gets a block of columns of its own over the layers it spans, so
	// that its frame never covers another box; the other vertices fill the remaining columns.
	used := make([]map[int]bool, layers)
	for i := range used {
		used[i] = map[int]bool{}
	}
	nextFree := 0
	for _, c := range frameOrder {
		perLayer := map[int][]*svgVertex{}
		lo, hi := layers, -1
		for _, id := range order {
			if v := vs[id]; v.cluster == c {
				perLayer[v.layer] = append(perLayer[v.layer], v)
				lo, hi = min(lo, v.layer), max(hi, v.layer)
			}
		}
		width := 0
		for _, l := range perLayer {
			width = max(width, len(l))
		}
		for l, list := range perLayer {
			for i, v := range list {
				v.col = nextFree + i
				_ = l
			}
		}
		for l := max(lo-0, 0); l <= hi && l < layers; l++ {
			for k := 0; k < width; k++ {
				used[l][nextFree+k] = true
			}
		}
		nextFree += width
	}
	cols := nextFree
	for _, id := range order {
		v := vs[id]
		if v.cluster != "" {
			continue
		}
		c := 0
		for used[v.layer][c] {
			c++
		}
		used[v.layer][c] = true
		v.col = c
		cols = max(cols, c+1)
	}
	// Centre single-vertex layers (inputs, output) under the picture when nothing else is there.
	for _, id := range order {
		v := vs[id]
		if v.cluster == "" && len(used[v.layer]) == 1 && cols > 1 {
			v.col = -1 // centred below
		}
	}

	colX := func(c int) float64 { return svgMargin + float64(c)*(svgBoxW+svgGapX) }
	totalW := 2*svgMargin + float64(max(cols, 1))*(svgBoxW+svgGapX) - svgGapX
	layerY := func(l int) float64 { return svgMargin + svgTitleH + float64(l)*(svgBoxH+svgGapY) }
	for _, id := range order {
		v := vs[id]
		v.w, v.h = svgBoxW, svgBoxH
		v.x, v.y = colX(v.col), layerY(v.layer)
		if v.col < 0 {
			v.x = (totalW - svgBoxW) / 2
		}
	}
	totalH := layerY(layers) - svgGapY + svgMargin

	var b strings.Builder
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" width="%.0f" height="%.0f" viewBox="0 0 %.0f %.0f" role="img" aria-label="plan %s" font-family="Helvetica,Arial,sans-serif">`+"\n",
		totalW, totalH, totalW, totalH, html.EscapeString(p.Metadata.Name))
	b.WriteString(`<defs><marker id="sgde-arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="#555"/></marker></defs>` + "\n")
	// Frames first, so that boxes and edges are drawn over them.
	var titles []string
	for _, c := range frameOrder {
		x0, y0, x1, y1 := math.Inf(1), math.Inf(1), math.Inf(-1), math.Inf(-1)
		for _, id := range order {
			if v := vs[id]; v.cluster == c {
				x0, y0 = math.Min(x0, v.x), math.Min(y0, v.y)
				x1, y1 = math.Max(x1, v.x+v.w), math.Max(y1, v.y+v.h)
			}
		}
		if math.IsInf(x0, 0) {
			continue
		}
		fw := x1 - x0 + 2*svgPadC
		class, fill, stroke := "consensus", "#f0fdf4", "#15803d"
		if strings.Contains(c, ".") { // a router's branch: "ROUTER.BRANCH"
			class, fill, stroke = "branch", "#faf5ff", "#7e22ce"
		}
		fmt.Fprintf(&b, `<g class="%s" id="%s"><rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="8" fill="%s" stroke="%s" stroke-dasharray="6 4"/><title>%s</title></g>`+"\n",
			class, gid("n", c), x0-svgPadC, y0-svgPadC-svgTitleH/2, fw, y1-y0+2*svgPadC+svgTitleH/2, fill, stroke, html.EscapeString(frames[c]))
		// The frame's title is drawn after the edges, on its own background, so that an edge
		// entering the frame passes under it instead of through the text.
		title := fit(frames[c], int((fw-12)/6.2))
		titles = append(titles, fmt.Sprintf(`<rect x="%.1f" y="%.1f" width="%.1f" height="14" fill="#f0fdf4"/><text x="%.1f" y="%.1f" font-size="11" fill="#15803d">%s</text>`+"\n",
			x0-svgPadC+4, y0-svgPadC-7, float64(len([]rune(title)))*6.2+4, x0-svgPadC+6, y0-svgPadC+4, html.EscapeString(title)))
	}
	for _, e := range d.edges {
		a, z := vs[e.from], vs[e.to]
		if a == nil || z == nil {
			continue
		}
		x1, y1, x2, y2 := a.x+a.w/2, a.y+a.h, z.x+z.w/2, z.y
		if blocked(vs, order, a, z, x1, y1, x2, y2) {
			// A straight edge would run through the boxes of the layers it skips: route it
			// down a lane beside them, on the side it comes from.
			lo, hi := math.Inf(1), math.Inf(-1)
			for _, id := range order {
				if v := vs[id]; v.layer > a.layer && v.layer < z.layer {
					lo, hi = math.Min(lo, v.x), math.Max(hi, v.x+v.w)
				}
			}
			lane := hi + svgGapX/2
			if (x1+x2)/2 < (lo+hi)/2 {
				lane = lo - svgGapX/2
			}
			yA, yZ := y1+svgGapY/2, y2-svgGapY/2
			fmt.Fprintf(&b, `<path class="edge" d="M%.1f,%.1f L%.1f,%.1f Q%.1f,%.1f %.1f,%.1f L%.1f,%.1f Q%.1f,%.1f %.1f,%.1f L%.1f,%.1f" fill="none" stroke="#555" marker-end="url(#sgde-arrow)"/>`+"\n",
				x1, y1, x1, yA-6, x1, yA, (x1+lane)/2, yA, lane, yA+6, lane, yZ, (lane+x2)/2, yZ, x2, y2)
			if e.label != "" {
				fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9" fill="#555">%s</text>`+"\n", lane+4, (yA+yZ)/2, html.EscapeString(e.label))
			}
			continue
		} else {
			fmt.Fprintf(&b, `<line class="edge" x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="#555" marker-end="url(#sgde-arrow)"/>`+"\n", x1, y1, x2, y2)
		}
		if e.label != "" {
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="9" fill="#555">%s</text>`+"\n", (x1+x2)/2+4, (y1+y2)/2, html.EscapeString(e.label))
		}
	}
	for _, t := range titles {
		b.WriteString(t)
	}
	ids := append([]string(nil), order...)
	sort.SliceStable(ids, func(i, j int) bool { return vs[ids[i]].layer < vs[ids[j]].layer })
	for _, id := range ids {
		v := vs[id]
		st := svgStyle[v.class]
		fmt.Fprintf(&b, `<g class="%s" id="%s">`, v.class, id)
		switch v.class {
		case "input":
			k := 10.0
			fmt.Fprintf(&b, `<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s" stroke="%s"/>`,
				v.x+k, v.y, v.x+v.w, v.y, v.x+v.w-k, v.y+v.h, v.x, v.y+v.h, st[0], st[1])
		case "code":
			k := 14.0
			fmt.Fprintf(&b, `<polygon points="%.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f %.1f,%.1f" fill="%s" stroke="%s"/>`,
				v.x+k, v.y, v.x+v.w-k, v.y, v.x+v.w, v.y+v.h/2, v.x+v.w-k, v.y+v.h, v.x+k, v.y+v.h, v.x, v.y+v.h/2, st[0], st[1])
		case "output":
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="%.1f" fill="%s" stroke="%s" stroke-width="2"/>`, v.x, v.y, v.w, v.h, v.h/2, st[0], st[1])
		case "vote":
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" fill="%s" stroke="%s"/><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/><line x1="%.1f" y1="%.1f" x2="%.1f" y2="%.1f" stroke="%s"/>`,
				v.x, v.y, v.w, v.h, st[0], st[1], v.x+6, v.y, v.x+6, v.y+v.h, st[1], v.x+v.w-6, v.y, v.x+v.w-6, v.y+v.h, st[1])
		default: // llm: a rounded box
			fmt.Fprintf(&b, `<rect x="%.1f" y="%.1f" width="%.1f" height="%.1f" rx="10" fill="%s" stroke="%s"/>`, v.x, v.y, v.w, v.h, st[0], st[1])
		}
		lines := strings.Split(v.label, "\n")
		for i, l := range lines {
			l = fit(l, 28)
			y := v.y + v.h/2 + 4 + (float64(i)-float64(len(lines)-1)/2)*13
			fmt.Fprintf(&b, `<text x="%.1f" y="%.1f" font-size="11" text-anchor="middle">%s</text>`, v.x+v.w/2, y, html.EscapeString(l))
		}
		fmt.Fprintf(&b, "<title>%s</title></g>\n", html.EscapeString(v.label))
	}
	b.WriteString("</svg>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// fit shortens s to at most n characters, ending it with an ellipsis when cut (the full text is
// in the element's <title>).
func fit(s string, n int) string {
	r := []rune(s)
	if n < 2 || len(r) <= n {
		return s
	}
	return string(r[:n-1]) + "…"
}

// blocked reports whether the straight edge from a to z crosses a box of a layer between them.
func blocked(vs map[string]*svgVertex, order []string, a, z *svgVertex, x1, y1, x2, y2 float64) bool {
	for _, id := range order {
		v := vs[id]
		if v == a || v == z || v.layer <= a.layer || v.layer >= z.layer {
			continue
		}
		at := func(y float64) float64 { return x1 + (x2-x1)*(y-y1)/(y2-y1) }
		xa, xb := at(v.y), at(v.y+v.h)
		if math.Max(xa, xb) >= v.x && math.Min(xa, xb) <= v.x+v.w {
			return true
		}
	}
	return false
}
