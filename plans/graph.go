package plans

import (
	"fmt"
	"io"
	"strings"
)

// GraphFormat names a diagram language WriteGraph can produce.
type GraphFormat string

// The diagram languages.
const (
	GraphMermaid GraphFormat = "mermaid"
	GraphDOT     GraphFormat = "dot"
)

// gid makes a diagram identifier from a prefix and a plan name. Names may hold "-", which
// neither Mermaid nor DOT accept in bare identifiers; the mapping ("_" -> "__", "-" -> "_h")
// keeps distinct names distinct.
func gid(prefix, name string) string {
	return prefix + "_" + strings.NewReplacer("_", "__", "-", "_h").Replace(name)
}

// edge is one data dependency for drawing: from produces the value to reads it.
type edge struct {
	from, to, label string
}

// drawing is the format-neutral picture of a plan.
type drawing struct {
	p     *Plan
	edges []edge
}

// draw collects the edges of a valid plan: inputs and nodes into the nodes that read them, and
// the plan's output. Reads of a consensus member from inside its consensus stay inside it.
func draw(p *Plan) drawing {
	d := drawing{p: p}
	seen := map[edge]bool{}
	add := func(e edge) {
		if !seen[e] {
			seen[e] = true
			d.edges = append(d.edges, e)
		}
	}
	src := func(r Ref) (string, string) {
		if r.IsInput() {
			return gid("in", r.Input), ""
		}
		if n := p.Node(r.Node); n != nil && n.Substrate == SubstrateConsensus {
			return gid("vote", r.Node), r.Field // a consensus's value comes out of its vote
		}
		return gid("n", r.Node), r.Field
	}
	for i := range p.Nodes {
		n := &p.Nodes[i]
		for _, r := range refsOf(n, "") {
			from, label := src(r.ref)
			to := gid("n", n.ID)
			if n.Substrate == SubstrateConsensus {
				// The consensus votes on one member's value: the member feeds the vote. Prompt
				// variants extend the llm member's prompt, so what they read feeds that member.
				to = gid("vote", n.ID)
				if k := n.Consensus; !r.inside && k != nil && len(k.Members) > 0 {
					to = gid("n", k.Members[0])
				}
			}
			add(edge{from: from, to: to, label: label})
		}
	}
	if r, err := ParseRef(p.Output); err == nil {
		from, label := src(r)
		add(edge{from: from, to: "output", label: label})
	}
	return d
}

func (d drawing) label(n *Node) string {
	switch n.Substrate {
	case SubstrateLLM:
		if n.LLM != nil {
			return fmt.Sprintf("%s\nllm · %s", n.ID, n.LLM.Parser.Type)
		}
	case SubstrateCode:
		if n.Code != nil {
			kind := "inline"
			if n.Code.Path != "" {
				kind = n.Code.Path
			}
			return fmt.Sprintf("%s\ncode · %s", n.ID, kind)
		}
	case SubstrateConsensus:
		if n.Consensus != nil {
			v := n.Consensus.Vote
			s := fmt.Sprintf("consensus %s: n=%d, %s", n.ID, n.Consensus.N, v.Method)
			if v.TieBreak != "" {
				s += " (ties: " + string(v.TieBreak) + ")"
			}
			return s
		}
	}
	return n.ID
}

// WriteGraph draws a valid plan as a Mermaid flowchart, a Graphviz digraph or an SVG picture
// (laid out by sgde itself: no Graphviz needed). The substrates
// look different: llm nodes are rounded blue boxes, code nodes orange hexagons, a consensus a
// dashed green frame around its members with a vote node inside; inputs are parallelograms.
func WriteGraph(w io.Writer, p *Plan, format GraphFormat) error {
	switch format {
	case GraphMermaid:
		return writeMermaid(w, p)
	case GraphDOT:
		return writeDOT(w, p)
	case GraphSVG:
		return writeSVG(w, p)
	default:
		return fmt.Errorf("unknown graph format %q (want mermaid, dot or svg)", format)
	}
}

func mermaidText(s string) string {
	r := strings.NewReplacer(`"`, "#quot;", "\n", "<br/>", "<", "#lt;", ">", "#gt;")
	return `"` + r.Replace(s) + `"`
}

func writeMermaid(w io.Writer, p *Plan) error {
	d := draw(p)
	var b strings.Builder
	b.WriteString("flowchart TD\n")
	b.WriteString("  classDef input fill:#f4f4f4,stroke:#666\n")
	b.WriteString("  classDef llm fill:#dbeafe,stroke:#1d4ed8\n")
	b.WriteString("  classDef code fill:#ffedd5,stroke:#c2410c\n")
	b.WriteString("  classDef vote fill:#dcfce7,stroke:#15803d\n")
	b.WriteString("  classDef output fill:#f4f4f4,stroke:#111,stroke-width:2px\n")
	for _, in := range p.Inputs {
		fmt.Fprintf(&b, "  %s[/%s/]:::input\n", gid("in", in.Name), mermaidText(in.Name+": "+string(in.Type)))
	}
	shape := func(n *Node, indent string) {
		switch n.Substrate {
		case SubstrateLLM:
			fmt.Fprintf(&b, "%s%s(%s):::llm\n", indent, gid("n", n.ID), mermaidText(d.label(n)))
		case SubstrateCode:
			fmt.Fprintf(&b, "%s%s{{%s}}:::code\n", indent, gid("n", n.ID), mermaidText(d.label(n)))
		}
	}
	for i := range p.Nodes {
		n := &p.Nodes[i]
		switch {
		case n.Substrate == SubstrateConsensus:
			fmt.Fprintf(&b, "  subgraph %s[%s]\n", gid("n", n.ID), mermaidText(d.label(n)))
			b.WriteString("    direction TB\n")
			if n.Consensus != nil {
				for _, m := range n.Consensus.Members {
					if mn := p.Node(m); mn != nil && p.ConsensusOf(m) == n.ID {
						shape(mn, "    ")
					}
				}
				fmt.Fprintf(&b, "    %s[[%s]]:::vote\n", gid("vote", n.ID), mermaidText(fmt.Sprintf("vote %s over %s", n.Consensus.Vote.Method, n.Consensus.Over)))
			}
			b.WriteString("  end\n")
			b.WriteString(fmt.Sprintf("  style %s fill:#f0fdf4,stroke:#15803d,stroke-dasharray: 5 5\n", gid("n", n.ID)))
		case p.ConsensusOf(n.ID) == "":
			shape(n, "  ")
		}
	}
	b.WriteString("  output([output]):::output\n")
	for _, e := range d.edges {
		from := e.from
		if e.label != "" {
			fmt.Fprintf(&b, "  %s -->|%s| %s\n", from, mermaidText(e.label), e.to)
		} else {
			fmt.Fprintf(&b, "  %s --> %s\n", from, e.to)
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func dotText(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`)
	return `"` + r.Replace(s) + `"`
}

func writeDOT(w io.Writer, p *Plan) error {
	d := draw(p)
	var b strings.Builder
	name := p.Metadata.Name
	fmt.Fprintf(&b, "digraph %s {\n", dotText(name))
	b.WriteString("  rankdir=TB;\n  compound=true;\n  graph [fontname=\"Helvetica\", fontsize=11];\n")
	b.WriteString("  node [fontname=\"Helvetica\", fontsize=11];\n  edge [fontname=\"Helvetica\", fontsize=9];\n")
	for _, in := range p.Inputs {
		fmt.Fprintf(&b, "  %s [label=%s, shape=parallelogram, style=filled, fillcolor=\"#f4f4f4\"];\n", gid("in", in.Name), dotText(in.Name+": "+string(in.Type)))
	}
	shape := func(n *Node, indent string) {
		switch n.Substrate {
		case SubstrateLLM:
			fmt.Fprintf(&b, "%s%s [label=%s, shape=box, style=\"rounded,filled\", fillcolor=\"#dbeafe\", color=\"#1d4ed8\"];\n", indent, gid("n", n.ID), dotText(d.label(n)))
		case SubstrateCode:
			fmt.Fprintf(&b, "%s%s [label=%s, shape=hexagon, style=filled, fillcolor=\"#ffedd5\", color=\"#c2410c\"];\n", indent, gid("n", n.ID), dotText(d.label(n)))
		}
	}
	for i := range p.Nodes {
		n := &p.Nodes[i]
		switch {
		case n.Substrate == SubstrateConsensus:
			fmt.Fprintf(&b, "  subgraph %s {\n", gid("cluster", n.ID))
			fmt.Fprintf(&b, "    label=%s;\n    style=\"dashed,filled\";\n    fillcolor=\"#f0fdf4\";\n    color=\"#15803d\";\n", dotText(d.label(n)))
			if n.Consensus != nil {
				for _, m := range n.Consensus.Members {
					if mn := p.Node(m); mn != nil && p.ConsensusOf(m) == n.ID {
						shape(mn, "    ")
					}
				}
				fmt.Fprintf(&b, "    %s [label=%s, shape=box3d, style=filled, fillcolor=\"#dcfce7\", color=\"#15803d\"];\n", gid("vote", n.ID), dotText(fmt.Sprintf("vote %s over %s", n.Consensus.Vote.Method, n.Consensus.Over)))
			}
			b.WriteString("  }\n")
		case p.ConsensusOf(n.ID) == "":
			shape(n, "  ")
		}
	}
	b.WriteString("  output [label=\"output\", shape=oval, style=\"filled,bold\", fillcolor=\"#f4f4f4\"];\n")
	for _, e := range d.edges {
		from := e.from
		if e.label != "" {
			fmt.Fprintf(&b, "  %s -> %s [label=%s];\n", from, e.to, dotText(e.label))
		} else {
			fmt.Fprintf(&b, "  %s -> %s;\n", from, e.to)
		}
	}
	b.WriteString("}\n")
	_, err := io.WriteString(w, b.String())
	return err
}
