package edit

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/sgde-project/sgde/plans"
)

// Apply returns a copy of p with the edits applied in order, checked by Check. p is never
// modified. An error names the edit that failed and wraps ErrInvalid.
func Apply(p *plans.Plan, edits ...Edit) (*plans.Plan, error) {
	q, err := clone(p)
	if err != nil {
		return nil, err
	}
	for i, e := range edits {
		if errs := e.Validate(); len(errs) > 0 {
			return nil, fmt.Errorf("edit %d (%s): %s: %w", i, e.Action, strings.Join(errs, "; "), ErrInvalid)
		}
		if err := applyOne(q, e); err != nil {
			return nil, fmt.Errorf("edit %d (%s): %w", i, e.Summary(), err)
		}
	}
	q.Provenance = nil
	if err := Check(q); err != nil {
		return nil, fmt.Errorf("edited plan: %v: %w", err, ErrInvalid)
	}
	return q, nil
}

// Check validates an edited plan with the plans package's full validation.
func Check(p *plans.Plan) error { return p.Validate() }

func clone(p *plans.Plan) (*plans.Plan, error) {
	b, err := json.Marshal(p)
	if err != nil {
		return nil, fmt.Errorf("copy plan: %w", err)
	}
	var q plans.Plan
	if err := json.Unmarshal(b, &q); err != nil {
		return nil, fmt.Errorf("copy plan: %w", err)
	}
	return &q, nil
}

func invalidf(format string, a ...any) error {
	return fmt.Errorf(format+": %w", append(a, ErrInvalid)...)
}

func index(p *plans.Plan, id string) int {
	return slices.IndexFunc(p.Nodes, func(n plans.Node) bool { return n.ID == id })
}

func applyOne(p *plans.Plan, e Edit) error {
	switch e.Action {
	case RefinePrompt:
		i := index(p, e.Node)
		if i < 0 {
			return invalidf("no node %q", e.Node)
		}
		n := &p.Nodes[i]
		if n.LLM == nil {
			return invalidf("node %q is %s, not llm", e.Node, n.Substrate)
		}
		refine(n.LLM, e)
		return nil
	case Offload:
		return offload(p, e)
	case Consensus:
		return consensus(p, e)
	case Split:
		return split(p, e)
	case Fuse:
		return fuse(p, e)
	case Route:
		return route(p, e)
	}
	return invalidf("unknown action %q", e.Action)
}

func refine(l *plans.LLMNode, e Edit) {
	if e.Prompt != "" {
		l.Prompt = e.Prompt
	}
	if e.System != "" {
		l.System = e.System
	}
	if e.Examples != nil {
		l.Examples = slices.Clone(e.Examples)
		if len(l.Examples) == 0 {
			l.Examples = nil
		}
	}
	if e.Parser != nil {
		l.Parser = *e.Parser
	}
}

func outputField(e Edit) string {
	if e.OutputField != "" {
		return e.OutputField
	}
	for k := range e.Outputs {
		return k // Validate ensured there is exactly one when it matters
	}
	return ""
}

func codeNode(id string, e Edit) plans.Node {
	return plans.Node{
		ID:          id,
		Substrate:   plans.SubstrateCode,
		Description: "offloaded by the compiler",
		Code: &plans.CodeNode{
			Source:  e.Source,
			Inputs:  maps(e.Inputs),
			Outputs: mapsT(e.Outputs),
			Limits:  e.Limits,
		},
	}
}

func maps(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func mapsT(m map[string]plans.Type) map[string]plans.Type {
	out := make(map[string]plans.Type, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func offload(p *plans.Plan, e Edit) error {
	i := index(p, e.Node)
	if i < 0 {
		return invalidf("no node %q", e.Node)
	}
	old := p.Nodes[i]
	if old.Consensus != nil {
		return invalidf("node %q is a consensus node; offload its members instead", e.Node)
	}
	if e.Prompt == "" {
		// The node itself becomes code. Consumers that read its bare value now read the field.
		if ref := e.Node; e.Inputs != nil {
			for _, v := range e.Inputs {
				if refNode(v) == ref {
					return invalidf("code node %q cannot read its own output %q", ref, v)
				}
			}
		}
		n := codeNode(e.Node, e)
		n.Description = old.Description
		p.Nodes[i] = n
		f := outputField(e)
		rewrite(p, func(ref string) string {
			if ref == e.Node && f != "" {
				return e.Node + "." + f
			}
			return ref
		}, nil)
		return nil
	}
	if old.LLM == nil {
		return invalidf("offload with a prompt needs an llm node, %q is %s", e.Node, old.Substrate)
	}
	id := e.newID()
	if index(p, id) >= 0 {
		return invalidf("node id %q already exists", id)
	}
	refine(old.LLM, Edit{Prompt: e.Prompt, System: e.System, Examples: e.Examples, Parser: e.Parser})
	p.Nodes[i] = old
	if e.Parser == nil {
		p.Nodes[i].LLM.Parser = plans.Parser{Type: plans.ParserCode}
	}
	to := id + "." + outputField(e)
	rewrite(p, retarget(e.Node, to), nil)
	p.Nodes = slices.Insert(p.Nodes, i+1, codeNode(id, e))
	return nil
}

func consensus(p *plans.Plan, e Edit) error {
	i := index(p, e.Node)
	if i < 0 {
		return invalidf("no node %q", e.Node)
	}
	vote := *e.Vote
	if vote.Method == plans.VotePlurality && vote.TieBreak == "" {
		vote.TieBreak = plans.TieFirst // deterministic and the least surprising default
	}
	e.Vote = &vote
	if c := p.Nodes[i].Consensus; c != nil {
		// Re-tune an existing consensus node.
		c.N = e.N
		if e.Perturbations != nil {
			c.Perturbations = *e.Perturbations
		}
		c.Vote = *e.Vote
		return nil
	}
	members := e.members()
	last := -1
	for k, m := range members {
		j := index(p, m)
		if j < 0 {
			return invalidf("no member node %q", m)
		}
		if k == 0 && p.Nodes[j].LLM == nil {
			return invalidf("the first member %q must be an llm node", m)
		}
		if k > 0 && p.Nodes[j].Code == nil {
			return invalidf("member %q must be a code node (members are one llm node and code nodes fed by it)", m)
		}
		for _, n := range p.Nodes {
			if n.Consensus != nil && slices.Contains(n.Consensus.Members, m) {
				return invalidf("node %q is already a member of consensus %q", m, n.ID)
			}
		}
		last = max(last, j)
	}
	id := e.newID()
	if index(p, id) >= 0 {
		return invalidf("node id %q already exists", id)
	}
	over := e.Over
	if over == "" {
		lm := members[len(members)-1]
		over = lm
		if n := p.Nodes[index(p, lm)]; n.Code != nil && len(n.Code.Outputs) == 1 {
			for f := range n.Code.Outputs {
				over = lm + "." + f
			}
		}
	}
	if !slices.Contains(members, refNode(over)) {
		return invalidf("over %q does not reference a member", over)
	}
	inMembers := func(n plans.Node) bool { return slices.Contains(members, n.ID) }
	rewrite(p, func(ref string) string {
		switch {
		case ref == over:
			return id
		case !strings.Contains(over, ".") && strings.HasPrefix(ref, over+"."):
			return id + ref[len(over):]
		case strings.Contains(over, ".") && ref == refNode(over):
			// A consumer read the whole member object; the vote yields only the field.
			return id
		}
		return ref
	}, inMembers)
	var perturb plans.Perturbations
	if e.Perturbations != nil {
		perturb = *e.Perturbations
	}
	node := plans.Node{
		ID:          id,
		Substrate:   plans.SubstrateConsensus,
		Description: "added by the compiler",
		Consensus: &plans.ConsensusNode{
			Members:       slices.Clone(members),
			Over:          over,
			N:             e.N,
			Perturbations: perturb,
			Vote:          *e.Vote,
		},
	}
	p.Nodes = slices.Insert(p.Nodes, last+1, node)
	// Members run only inside the consensus: nothing outside may still read them.
	for _, n := range p.Nodes {
		if inMembers(n) || n.ID == id {
			continue
		}
		for _, r := range refs(n) {
			if slices.Contains(members, refNode(r)) {
				return invalidf("node %q reads member %q, which only runs inside the consensus", n.ID, r)
			}
		}
	}
	if slices.Contains(members, refNode(p.Output)) {
		return invalidf("the plan output %q reads a consensus member", p.Output)
	}
	return nil
}

func split(p *plans.Plan, e Edit) error {
	i := index(p, e.Node)
	if i < 0 {
		return invalidf("no node %q", e.Node)
	}
	seen := map[string]bool{}
	for _, n := range e.Into {
		if n.ID == "" {
			return invalidf("every node in into needs an id")
		}
		if seen[n.ID] {
			return invalidf("duplicate id %q in into", n.ID)
		}
		seen[n.ID] = true
		if n.ID != e.Node && index(p, n.ID) >= 0 {
			return invalidf("node id %q already exists", n.ID)
		}
	}
	as := e.As
	if as == "" {
		as = e.Into[len(e.Into)-1].ID
	}
	into, err := cloneNodes(e.Into)
	if err != nil {
		return err
	}
	p.Nodes = slices.Replace(p.Nodes, i, i+1, into...)
	switch {
	case e.OutputField != "":
		// Consumers of the old node's bare value read one field of the new one (a code node's
		// answer); field references keep their field.
		to := as + "." + e.OutputField
		rewrite(p, func(ref string) string {
			if ref == e.Node {
				return to
			}
			return retarget(e.Node, to)(ref)
		}, func(n plans.Node) bool { return seen[n.ID] })
	case as != e.Node:
		rewrite(p, retargetNode(e.Node, as, into[slices.IndexFunc(into, func(n plans.Node) bool { return n.ID == as })]), func(n plans.Node) bool { return seen[n.ID] })
	}
	return nil
}

func fuse(p *plans.Plan, e Edit) error {
	first := len(p.Nodes)
	for _, id := range e.Nodes {
		j := index(p, id)
		if j < 0 {
			return invalidf("no node %q", id)
		}
		first = min(first, j)
	}
	if j := index(p, e.Fused.ID); j >= 0 && !slices.Contains(e.Nodes, e.Fused.ID) {
		return invalidf("node id %q already exists", e.Fused.ID)
	}
	fused, err := cloneNodes([]plans.Node{*e.Fused})
	if err != nil {
		return err
	}
	p.Nodes = slices.DeleteFunc(p.Nodes, func(n plans.Node) bool { return slices.Contains(e.Nodes, n.ID) })
	p.Nodes = slices.Insert(p.Nodes, min(first, len(p.Nodes)), fused[0])
	// Also for a fused node that keeps one of the old ids: a field reference to an old code node
	// becomes the bare value when the fused node has no fields.
	for _, id := range e.Nodes {
		rewrite(p, retargetNode(id, e.Fused.ID, fused[0]), func(n plans.Node) bool { return n.ID == e.Fused.ID })
	}
	return nil
}

func cloneNodes(ns []plans.Node) ([]plans.Node, error) {
	b, err := json.Marshal(ns)
	if err != nil {
		return nil, fmt.Errorf("copy nodes: %w", err)
	}
	var out []plans.Node
	if err := json.Unmarshal(b, &out); err != nil {
		return nil, fmt.Errorf("copy nodes: %w", err)
	}
	return out, nil
}

// retarget maps references to node from onto to: "from" becomes to and "from.f" becomes
// "<node of to>.f".
func retarget(from, to string) func(string) string {
	return func(ref string) string {
		if ref == from {
			return to
		}
		if strings.HasPrefix(ref, from+".") {
			return refNode(to) + ref[len(from):]
		}
		return ref
	}
}

// retargetNode is retarget onto a whole node: field references keep their field only when the
// node has fields (code nodes, llm nodes with a json parser).
func retargetNode(from, to string, n plans.Node) func(string) string {
	fields := n.Code != nil || (n.LLM != nil && n.LLM.Parser.Type == plans.ParserJSON)
	if fields {
		return retarget(from, to)
	}
	return func(ref string) string {
		if ref == from || strings.HasPrefix(ref, from+".") {
			return to
		}
		return ref
	}
}

// refNode is the node (or "inputs") part of a reference.
func refNode(ref string) string {
	n, _, _ := strings.Cut(ref, ".")
	return n
}

var templateRef = regexp.MustCompile(`\{\{\s*([A-Za-z_][A-Za-z0-9_\-]*(?:\.[A-Za-z0-9_\-]+)*)\s*\}\}`)

// rewriteTemplate applies f to every "{{ REF }}" of a prompt template, leaving "{{{{" escapes.
func rewriteTemplate(s string, f func(string) string) string {
	var b strings.Builder
	for {
		i := strings.Index(s, "{{")
		if i < 0 {
			b.WriteString(s)
			return b.String()
		}
		b.WriteString(s[:i])
		s = s[i:]
		if strings.HasPrefix(s, "{{{{") {
			b.WriteString("{{{{")
			s = s[4:]
			continue
		}
		loc := templateRef.FindStringSubmatchIndex(s)
		if loc == nil || loc[0] != 0 {
			b.WriteString("{{")
			s = s[2:]
			continue
		}
		ref := s[loc[2]:loc[3]]
		b.WriteString("{{ " + f(ref) + " }}")
		s = s[loc[1]:]
	}
}

// templateRefs lists the references of a template.
func templateRefs(s string) []string {
	var out []string
	rewriteTemplate(s, func(r string) string { out = append(out, r); return r })
	return out
}

// rewrite applies f to every reference of p (output, templates, code inputs, consensus over)
// except in nodes for which skip returns true.
func rewrite(p *plans.Plan, f func(string) string, skip func(plans.Node) bool) {
	p.Output = f(p.Output)
	for i := range p.Nodes {
		n := &p.Nodes[i]
		if skip != nil && skip(*n) {
			continue
		}
		if n.LLM != nil {
			n.LLM.Prompt = rewriteTemplate(n.LLM.Prompt, f)
			n.LLM.System = rewriteTemplate(n.LLM.System, f)
		}
		if n.Code != nil {
			for k, v := range n.Code.Inputs {
				n.Code.Inputs[k] = f(v)
			}
		}
		if n.Consensus != nil {
			n.Consensus.Over = f(n.Consensus.Over)
		}
	}
}

// refs lists the references a node reads (consensus members are ids, not references, and are
// not included).
func refs(n plans.Node) []string {
	var out []string
	if n.LLM != nil {
		out = append(out, templateRefs(n.LLM.Prompt)...)
		out = append(out, templateRefs(n.LLM.System)...)
	}
	if n.Code != nil {
		keys := make([]string, 0, len(n.Code.Inputs))
		for k := range n.Code.Inputs {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for _, k := range keys {
			out = append(out, n.Code.Inputs[k])
		}
	}
	return out
}
