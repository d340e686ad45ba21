package plans

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"io"
	"strconv"
	"strings"
	"testing"
)

type box struct {
	class, id      string
	x0, y0, x1, y1 float64
}

func (a box) overlaps(b box) bool {
	return a.x0 < b.x1 && b.x0 < a.x1 && a.y0 < b.y1 && b.y0 < a.y1
}

// svgBoxes reads the first shape of every <g class=... id=...> of an SVG picture.
func svgBoxes(t *testing.T, svg []byte) []box {
	t.Helper()
	dec := xml.NewDecoder(bytes.NewReader(svg))
	var out []box
	var cur *box
	for {
		tok, err := dec.Token()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("the SVG is not well-formed XML: %v", err)
		}
		se, ok := tok.(xml.StartElement)
		if !ok {
			continue
		}
		attr := map[string]string{}
		for _, a := range se.Attr {
			attr[a.Name.Local] = a.Value
		}
		f := func(k string) float64 { v, _ := strconv.ParseFloat(attr[k], 64); return v }
		switch {
		case se.Name.Local == "g" && attr["id"] != "":
			out = append(out, box{class: attr["class"], id: attr["id"]})
			cur = &out[len(out)-1]
		case cur != nil && cur.x1 == 0 && se.Name.Local == "rect":
			cur.x0, cur.y0, cur.x1, cur.y1 = f("x"), f("y"), f("x")+f("width"), f("y")+f("height")
		case cur != nil && cur.x1 == 0 && se.Name.Local == "polygon":
			cur.x0, cur.y0 = 1e9, 1e9
			for _, pt := range strings.Fields(attr["points"]) {
				var x, y float64
				fmt.Sscanf(pt, "%g,%g", &x, &y)
				cur.x0, cur.y0 = min(cur.x0, x), min(cur.y0, y)
				cur.x1, cur.y1 = max(cur.x1, x), max(cur.y1, y)
			}
		}
	}
	return out
}

// TestGraphSVGLayout: every vertex of the drawing is a box, no two boxes overlap, and a
// consensus frame holds exactly its members and its vote.
func TestGraphSVGLayout(t *testing.T) {
	for _, file := range append(examplePlans(t), "testdata/canonical/full.yaml") {
		t.Run(file, func(t *testing.T) {
			p, err := Load(file)
			if err != nil {
				t.Fatal(err)
			}
			var b bytes.Buffer
			if err := WriteGraph(&b, p, GraphSVG); err != nil {
				t.Fatal(err)
			}
			boxes := svgBoxes(t, b.Bytes())
			var frames, vertices []box
			for _, bx := range boxes {
				if bx.class == "consensus" || bx.class == "branch" {
					frames = append(frames, bx)
				} else {
					vertices = append(vertices, bx)
				}
			}
			d := draw(p)
			ids := map[string]bool{}
			for _, e := range d.edges {
				ids[e.from], ids[e.to] = true, true
			}
			for _, v := range vertices {
				delete(ids, v.id)
			}
			if len(ids) > 0 {
				t.Errorf("edge ends without a box: %v", ids)
			}
			for i, a := range vertices {
				for _, c := range vertices[i+1:] {
					if a.overlaps(c) {
						t.Errorf("boxes %s and %s overlap", a.id, c.id)
					}
				}
				for _, f := range frames {
					member := strings.HasPrefix(a.id, "vote_") && gid("n", strings.TrimPrefix(a.id, "vote_")) == f.id
					if n := p.Node(strings.TrimPrefix(a.id, "n_")); n != nil && gid("n", p.ConsensusOf(n.ID)) == f.id {
						member = true
					}
					if f.class == "branch" {
						// A router's branch frame holds exactly the vertices of its sub-plan.
						_, rest, _ := strings.Cut(a.id, "_")
						member = strings.HasPrefix(rest, strings.TrimPrefix(f.id, "n_")+"_d")
					}
					if a.overlaps(f) != member {
						t.Errorf("box %s and frame %s: overlap %v, member %v", a.id, f.id, a.overlaps(f), member)
					}
				}
			}
		})
	}
}
