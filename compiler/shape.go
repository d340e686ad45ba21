package compiler

import (
	"strings"

	"github.com/sgde-project/sgde/compiler/teacher"
	"github.com/sgde-project/sgde/plans"
)

// Shape describes a plan's structure from its output backwards: "code" for a code node,
// "llm" for a student call (tagged "llm(cot)" when it reasons step by step, "llm(extract)" when
// it answers with a JSON object for a code node to compute from, "demos" with few-shot
// demonstrations), "a→b" when b reads a, "consensus(...)" around a voted chain,
// "code→router{a: … | b: …}" for a router with a code classifier and its branches' shapes. So a
// split into extraction and a vetted module, llm(extract)→code, reads differently from
// program-aided offload, llm→code, where the student writes the program. The compile log states
// each partition's compiled shape with it.
func Shape(p *plans.Plan) string {
	if p == nil {
		return ""
	}
	var walk func(id string, seen map[string]bool) string
	walk = func(id string, seen map[string]bool) string {
		n := p.Node(id)
		if n == nil || seen[id] {
			return ""
		}
		seen[id] = true
		var self string
		switch {
		case n.Router != nil:
			// The classifier is the router's dependency; the branches follow in braces.
			var bs []string
			for j := range n.Router.Branches {
				b := &n.Router.Branches[j]
				bs = append(bs, b.Name+": "+Shape(b.SubPlan()))
			}
			self = "router{" + strings.Join(bs, " | ") + "}"
		case n.Consensus != nil:
			last := n.Consensus.Members[len(n.Consensus.Members)-1]
			return "consensus(" + walk(last, map[string]bool{}) + ")"
		case n.Code != nil:
			self = "code"
		case n.LLM != nil:
			self = "llm"
			var tags []string
			if e, ok := teacher.ChainOfThought(*n); ok && e.Prompt == n.LLM.Prompt {
				tags = append(tags, "cot")
			}
			if n.LLM.Parser.Type == plans.ParserJSON {
				tags = append(tags, "extract")
			}
			if len(n.LLM.Examples) > 0 {
				tags = append(tags, "demos")
			}
			if len(tags) > 0 {
				self += "(" + strings.Join(tags, ",") + ")"
			}
		}
		var ups []string
		for _, d := range p.Dependencies(id) {
			if s := walk(d, seen); s != "" {
				ups = append(ups, s)
			}
		}
		switch len(ups) {
		case 0:
			return self
		case 1:
			return ups[0] + "→" + self
		}
		return "[" + strings.Join(ups, ", ") + "]→" + self
	}
	out, _, _ := strings.Cut(p.Output, ".")
	return walk(out, map[string]bool{})
}
