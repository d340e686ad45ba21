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
	// "." joins the names of nested plans (router.branch.node); no single name contains it.
	return prefix + "_" + strings.NewReplacer("_", "__", "-", "_h", ".", "_d").Replace(name)
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
// the plan's output. Reads of a consensus member from inside its consensus stay inside it. A
// router's branches are drawn inside it: each sub-plan's inputs come from the router's route
// node (labelled with the branch name) and its output goes to the router's output node.
func draw(p *Plan) drawing {
	d := drawing{p: p}
	d.collect(p, "", "", "", "output")
	return d
}

// collect adds the edges of p, whose node ids are prefixed by ns; for a branch sub-plan, route
// is the id its inputs come from (labelled branch) and out the id its output goes to.
func (d *drawing) collect(p *Plan, ns, route, branch, out string) {
	seen := map[edge]bool{}
	for _, e := range d.edges {
		seen[e] = true
	}
	add := func(e edge) {
		if !seen[e] {
			seen[e] = true
			d.edges = append(d.edges, e)
		}
	}
	src := func(r Ref) (string, string) {
		if r.IsInput() {
			if route != "" {
				return route, branch
			}
			return gid("in", r.Input), ""
		}
		if n := p.Node(r.Node); n != nil && n.Substrate == SubstrateConsensus {
			return gid("vote", ns+r.Node), r.Field // a consensus's value comes out of its vote
		}
		if n := p.Node(r.Node); n != nil && n.Substrate == SubstrateRouter {
			return gid("out", ns+r.Node), r.Field // a router's value is its chosen branch's
		}
		return gid("n", ns+r.Node), r.Field
	}
	for i := range p.Nodes {
		n := &p.Nodes[i]
		for _, r := range refsOf(n, "") {
			from, label := src(r.ref)
			to := gid("n", ns+n.ID)
			if n.Substrate == SubstrateConsensus {
				// The consensus votes on one member's value: the member feeds the vote. Prompt
				// variants extend the llm member's prompt, so what they read feeds that member.
				to = gid("vote", ns+n.ID)
				if k := n.Consensus; !r.inside && k != nil && len(k.Members) > 0 {
					to = gid("n", ns+k.Members[0])
				}
			}
			add(edge{from: from, to: to, label: label})
		}
		if n.Substrate == SubstrateRouter && n.Router != nil {
			for _, b := range n.Router.Branches {
				if sub := b.SubPlan(); sub != nil {
					d.collect(sub, ns+n.ID+"."+b.Name+".", gid("n", ns+n.ID), b.Name, gid("out", ns+n.ID))
				}
			}
		}
	}
	if r, err := ParseRef(p.Output); err == nil {
		from, label := src(r)
		if route != "" && r.IsInput() {
			label = branch
		}
		add(edge{from: from, to: out, label: label})
	}
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
	case SubstrateRouter:
		if n.Router != nil {
			return fmt.Sprintf("%s\nroute on %s · default %s", n.ID, n.Router.On, n.Router.Default)
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
	if hasRouter(p) {
		b.WriteString("  classDef router fill:#f3e8ff,stroke:#7e22ce\n")
	}
	b.WriteString("  classDef output fill:#f4f4f4,stroke:#111,stroke-width:2px\n")
	for _, in := range p.Inputs {
		fmt.Fprintf(&b, "  %s[/%s/]:::input\n", gid("in", in.Name), mermaidText(in.Name+": "+string(in.Type)))
	}
	var nodes func(p *Plan, ns, indent string)
	shape := func(n *Node, ns, indent string) {
		switch n.Substrate {
		case SubstrateLLM:
			fmt.Fprintf(&b, "%s%s(%s):::llm\n", indent, gid("n", ns+n.ID), mermaidText(d.label(n)))
		case SubstrateCode:
			fmt.Fprintf(&b, "%s%s{{%s}}:::code\n", indent, gid("n", ns+n.ID), mermaidText(d.label(n)))
		}
	}
	nodes = func(p *Plan, ns, indent string) {
		for i := range p.Nodes {
			n := &p.Nodes[i]
			switch {
			case n.Substrate == SubstrateConsensus:
				fmt.Fprintf(&b, "%ssubgraph %s[%s]\n", indent, gid("n", ns+n.ID), mermaidText(d.label(n)))
				b.WriteString(indent + "  direction TB\n")
				if n.Consensus != nil {
					for _, m := range n.Consensus.Members {
						if mn := p.Node(m); mn != nil && p.ConsensusOf(m) == n.ID {
							shape(mn, ns, indent+"  ")
						}
					}
					fmt.Fprintf(&b, "%s  %s[[%s]]:::vote\n", indent, gid("vote", ns+n.ID), mermaidText(fmt.Sprintf("vote %s over %s", n.Consensus.Vote.Method, n.Consensus.Over)))
				}
				b.WriteString(indent + "end\n")
				b.WriteString(fmt.Sprintf("%sstyle %s fill:#f0fdf4,stroke:#15803d,stroke-dasharray: 5 5\n", indent, gid("n", ns+n.ID)))
			case n.Substrate == SubstrateRouter && n.Router != nil:
				fmt.Fprintf(&b, "%ssubgraph %s[%s]\n", indent, gid("router", ns+n.ID), mermaidText("router "+n.ID))
				b.WriteString(indent + "  direction TB\n")
				fmt.Fprintf(&b, "%s  %s{%s}:::router\n", indent, gid("n", ns+n.ID), mermaidText(d.label(n)))
				for _, br := range n.Router.Branches {
					bns := ns + n.ID + "." + br.Name + "."
					fmt.Fprintf(&b, "%s  subgraph %s[%s]\n", indent, gid("branch", ns+n.ID+"."+br.Name), mermaidText("branch "+br.Name))
					if sub := br.SubPlan(); sub != nil {
						nodes(sub, bns, indent+"    ")
					}
					b.WriteString(indent + "  end\n")
				}
				fmt.Fprintf(&b, "%s  %s([%s]):::output\n", indent, gid("out", ns+n.ID), mermaidText(n.ID+" output"))
				b.WriteString(indent + "end\n")
				b.WriteString(fmt.Sprintf("%sstyle %s fill:#faf5ff,stroke:#7e22ce\n", indent, gid("router", ns+n.ID)))
			case p.ConsensusOf(n.ID) == "":
				shape(n, ns, indent)
			}
		}
	}
	nodes(p, "", "  ")
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
	var nodes func(p *Plan, ns, indent string)
	shape := func(n *Node, ns, indent string) {
		switch n.Substrate {
		case SubstrateLLM:
			fmt.Fprintf(&b, "%s%s [label=%s, shape=box, style=\"rounded,filled\", fillcolor=\"#dbeafe\", color=\"#1d4ed8\"];\n", indent, gid("n", ns+n.ID), dotText(d.label(n)))
		case SubstrateCode:
			fmt.Fprintf(&b, "%s%s [label=%s, shape=hexagon, style=filled, fillcolor=\"#ffedd5\", color=\"#c2410c\"];\n", indent, gid("n", ns+n.ID), dotText(d.label(n)))
		}
	}
	nodes = func(p *Plan, ns, indent string) {
		for i := range p.Nodes {
			n := &p.Nodes[i]
			switch {
			case n.Substrate == SubstrateConsensus:
				fmt.Fprintf(&b, "%ssubgraph %s {\n", indent, gid("cluster", ns+n.ID))
				fmt.Fprintf(&b, "%s  label=%s;\n%s  style=\"dashed,filled\";\n%s  fillcolor=\"#f0fdf4\";\n%s  color=\"#15803d\";\n", indent, dotText(d.label(n)), indent, indent, indent)
				if n.Consensus != nil {
					for _, m := range n.Consensus.Members {
						if mn := p.Node(m); mn != nil && p.ConsensusOf(m) == n.ID {
							shape(mn, ns, indent+"  ")
						}
					}
					fmt.Fprintf(&b, "%s  %s [label=%s, shape=box3d, style=filled, fillcolor=\"#dcfce7\", color=\"#15803d\"];\n", indent, gid("vote", ns+n.ID), dotText(fmt.Sprintf("vote %s over %s", n.Consensus.Vote.Method, n.Consensus.Over)))
				}
				b.WriteString(indent + "}\n")
			case n.Substrate == SubstrateRouter && n.Router != nil:
				fmt.Fprintf(&b, "%ssubgraph %s {\n", indent, gid("cluster", ns+n.ID))
				fmt.Fprintf(&b, "%s  label=%s;\n%s  style=filled;\n%s  fillcolor=\"#faf5ff\";\n%s  color=\"#7e22ce\";\n", indent, dotText("router "+n.ID), indent, indent, indent)
				fmt.Fprintf(&b, "%s  %s [label=%s, shape=diamond, style=filled, fillcolor=\"#f3e8ff\", color=\"#7e22ce\"];\n", indent, gid("n", ns+n.ID), dotText(d.label(n)))
				for _, br := range n.Router.Branches {
					fmt.Fprintf(&b, "%s  subgraph %s {\n", indent, gid("cluster", ns+n.ID+"."+br.Name))
					fmt.Fprintf(&b, "%s    label=%s;\n%s    style=dashed;\n%s    color=\"#7e22ce\";\n", indent, dotText("branch "+br.Name), indent, indent)
					if sub := br.SubPlan(); sub != nil {
						nodes(sub, ns+n.ID+"."+br.Name+".", indent+"    ")
					}
					b.WriteString(indent + "  }\n")
				}
				fmt.Fprintf(&b, "%s  %s [label=%s, shape=oval, style=filled, fillcolor=\"#f3e8ff\", color=\"#7e22ce\"];\n", indent, gid("out", ns+n.ID), dotText(n.ID+" output"))
				b.WriteString(indent + "}\n")
			case p.ConsensusOf(n.ID) == "":
				shape(n, ns, indent)
			}
		}
	}
	nodes(p, "", "  ")
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

func hasRouter(p *Plan) bool {
	return len(p.Routers()) > 0
}
