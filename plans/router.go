package plans

import (
	"bytes"
	"encoding/json"
	"fmt"
	"path/filepath"
	"regexp"
	"strings"
)

// MaxRouterDepth bounds how deeply routers nest (a branch holding a router holding a router...):
// validating, drawing and running are recursive, and a real mixture needs one level, rarely two.
const MaxRouterDepth = 4

// MaxBranches bounds the branches of one router.
const MaxBranches = 64

// RouterNode runs exactly one of its branches, chosen by the value of a classifier. The
// classifier is an ordinary node of the same plan, on any substrate: a code node (deterministic
// rules over the input, run in the sandbox), an llm node (a classification prompt; its reply is
// matched against the branch names, see Choose) or a consensus over such an llm node. Keeping
// the classifier a node, not a new kind of thing, means it is validated, cached, traced, retried
// and drawn like every other node.
type RouterNode struct {
	// On references the classifier's value ("NODE" or "NODE.FIELD").
	On string `json:"on" yaml:"on"`
	// Default names the branch that runs when the classifier's value names no branch.
	Default  string   `json:"default" yaml:"default"`
	Branches []Branch `json:"branches" yaml:"branches"`
}

// Branch is one sub-plan a router can run. Exactly one of Plan and Path is set.
type Branch struct {
	// Name is what the classifier says to pick this branch.
	Name string `json:"name" yaml:"name"`
	// Inputs maps each input of the sub-plan to a reference in the enclosing plan.
	Inputs map[string]string `json:"inputs" yaml:"inputs"`
	// Plan is the sub-plan, inline.
	Plan *Plan `json:"plan,omitempty" yaml:"plan,omitempty"`
	// Path is a plan file relative to this plan's file (it may not leave its folder); Digest
	// must then be set, so that the enclosing plan pins exactly which sub-plan it runs.
	Path string `json:"path,omitempty" yaml:"path,omitempty"`
	// Digest is the sub-plan's Digest ("sha256:HEX"). When set it must match.
	Digest string `json:"digest,omitempty" yaml:"digest,omitempty"`

	// loaded is the plan read from Path by Validate.
	loaded *Plan
}

// SubPlan returns the branch's plan: inline, or read from Path by the last successful Validate.
func (b *Branch) SubPlan() *Plan {
	if b.Plan != nil {
		return b.Plan
	}
	return b.loaded
}

// Branch returns the branch named name, or nil.
func (r *RouterNode) Branch(name string) *Branch {
	for i := range r.Branches {
		if r.Branches[i].Name == name {
			return &r.Branches[i]
		}
	}
	return nil
}

// Choice is which branch a router picked for a classifier value, and why.
type Choice struct {
	Branch string
	// Reason says how the value led to the branch, for traces and reports.
	Reason string
	// Defaulted is true when no branch matched and the default ran.
	Defaulted bool
}

var wordRE = regexp.MustCompile(`[A-Za-z0-9_-]+`)

// Choose maps a classifier value to a branch. The value is rendered as text (FormatValue) and
// compared with the branch names ignoring case and surrounding whitespace, quotes and final
// punctuation. Failing that, a text that mentions exactly one branch name as a whole word picks
// it: this is the parser over branch names that an llm classifier's free-text reply needs
// ("The answer is: date."). Anything else runs the default branch, and says so.
func (r *RouterNode) Choose(v any) Choice {
	text, err := FormatValue(v)
	if err != nil {
		return Choice{Branch: r.Default, Reason: fmt.Sprintf("classifier value unreadable (%v); default", err), Defaulted: true}
	}
	clean := strings.ToLower(strings.Trim(strings.TrimSpace(text), "\"'`.!:;, \t\n"))
	for _, b := range r.Branches {
		if strings.ToLower(b.Name) == clean {
			return Choice{Branch: b.Name, Reason: fmt.Sprintf("classifier said %q", b.Name)}
		}
	}
	mentioned := map[string]bool{}
	var first string
	for _, w := range wordRE.FindAllString(strings.ToLower(text), 1000) {
		for _, b := range r.Branches {
			if strings.ToLower(b.Name) == w && !mentioned[b.Name] {
				mentioned[b.Name] = true
				if first == "" {
					first = b.Name
				}
			}
		}
	}
	short := text
	if len(short) > 80 {
		short = short[:77] + "..."
	}
	switch len(mentioned) {
	case 1:
		return Choice{Branch: first, Reason: fmt.Sprintf("classifier text %q names only %q", short, first)}
	case 0:
		return Choice{Branch: r.Default, Reason: fmt.Sprintf("classifier value %q names no branch; default", short), Defaulted: true}
	default:
		return Choice{Branch: r.Default, Reason: fmt.Sprintf("classifier text %q names %d branches; default", short, len(mentioned)), Defaulted: true}
	}
}

// routerSyntax checks a router's own fields and validates each branch's sub-plan, reporting
// the sub-plan's problems at their place in this plan.
func (v *validator) routerSyntax(n *Node, path string) {
	r := n.Router
	if r.On == "" {
		v.c.add(n.ID, path+".on", "router.on is required: the classifier's value (NODE or NODE.FIELD)")
	} else if ref, err := ParseRef(r.On); err != nil {
		v.c.add(n.ID, path+".on", "router.on: %v", err)
	} else if ref.IsInput() {
		v.c.add(n.ID, path+".on", "router.on must name a classifier node (code, llm or consensus), not a plan input")
	}
	if len(r.Branches) == 0 {
		v.c.add(n.ID, path+".branches", "a router needs at least one branch")
	}
	if len(r.Branches) > MaxBranches {
		v.c.add(n.ID, path+".branches", "a router has at most %d branches", MaxBranches)
		return
	}
	if v.depth >= MaxRouterDepth {
		v.c.add(n.ID, path, "routers nest more than %d deep", MaxRouterDepth)
		return
	}
	names := map[string]bool{}
	for j := range r.Branches {
		b := &r.Branches[j]
		bp := fmt.Sprintf("%s.branches[%d]", path, j)
		switch {
		case !isIdent(b.Name):
			v.c.add(n.ID, bp+".name", "branch name %q must be letters, digits, _ and - (starting with a letter or _), at most %d", b.Name, maxIdentLen)
		case names[strings.ToLower(b.Name)]:
			v.c.add(n.ID, bp+".name", "branch %q is declared twice (names are compared ignoring case)", b.Name)
		}
		names[strings.ToLower(b.Name)] = true
		v.branch(n, b, bp)
	}
	switch {
	case r.Default == "":
		v.c.add(n.ID, path+".default", "router.default is required: the branch that runs when the classifier names none")
	case r.Branch(r.Default) == nil:
		v.c.add(n.ID, path+".default", "router.default %q is not a branch (branches: %s)", r.Default, strings.Join(branchNames(r), ", "))
	}
}

func branchNames(r *RouterNode) []string {
	out := make([]string, len(r.Branches))
	for i, b := range r.Branches {
		out[i] = b.Name
	}
	return out
}

// branch loads (for Path) and validates one branch's sub-plan and checks its input mapping.
func (v *validator) branch(n *Node, b *Branch, bp string) {
	switch {
	case b.Plan != nil && b.Path != "":
		v.c.add(n.ID, bp, "branch %q has both plan and path; set one", b.Name)
		return
	case b.Plan == nil && b.Path == "":
		v.c.add(n.ID, bp, "branch %q needs a plan (inline) or a path (a plan file, with its digest)", b.Name)
		return
	}
	if b.Digest != "" && !digestRE.MatchString(b.Digest) {
		v.c.add(n.ID, bp+".digest", "digest %q must be sha256: and 64 lower-case hex digits", b.Digest)
		return
	}
	sub := b.Plan
	if b.Path != "" {
		if b.Digest == "" {
			v.c.add(n.ID, bp+".digest", "branch %q reads %q: its digest is required so the plan pins what it runs", b.Name, b.Path)
			return
		}
		if b.loaded == nil || v.reread {
			text, msg := readFenced(v.p.dir, v.p.file != "", b.Path, []string{".yaml", ".yml", ".json"}, MaxPlanBytes)
			if msg != "" {
				v.c.add(n.ID, bp+".path", "path %q %s", b.Path, msg)
				return
			}
			loaded, err := decode([]byte(text), filepath.Join(v.p.dir, filepath.FromSlash(b.Path)))
			if err != nil {
				v.c.add(n.ID, bp+".path", "branch %q: %v", b.Name, err)
				return
			}
			b.loaded = loaded
		}
		sub = b.loaded
	} else {
		// An inline sub-plan resolves code paths against the enclosing plan's folder.
		sub.file, sub.dir = v.p.file, v.p.dir
		sub.pos = v.c.pos.under(bp + ".plan")
	}
	sv := &validator{p: sub, c: &errs{file: sub.file, pos: sub.pos}, byID: map[string]int{}, consensusOf: map[string]string{}, reread: v.reread, depth: v.depth + 1}
	sv.run()
	for _, e := range sv.c.list {
		ce := *e
		if b.Plan != nil && e.Field != "" {
			ce.Field = bp + ".plan." + e.Field
		} else if b.Plan != nil {
			ce.Field = bp + ".plan"
		}
		if b.Plan != nil {
			ce.Line = v.c.pos.line(ce.Field)
		}
		ce.Message = fmt.Sprintf("branch %q: %s", b.Name, e.Message)
		if e.NodeID != "" {
			ce.Message = fmt.Sprintf("branch %q: node %q: %s", b.Name, e.NodeID, e.Message)
		}
		ce.NodeID = n.ID
		v.c.list = append(v.c.list, &ce)
	}
	for _, in := range sub.Inputs {
		if _, ok := b.Inputs[in.Name]; !ok {
			v.c.add(n.ID, bp+".inputs", "branch %q: sub-plan input %q is not mapped (inputs: {%s: REF})", b.Name, in.Name, in.Name)
		}
	}
	for _, name := range sortedKeys(b.Inputs) {
		known := false
		for _, in := range sub.Inputs {
			known = known || in.Name == name
		}
		if !known {
			v.c.add(n.ID, bp+".inputs."+name, "branch %q: the sub-plan has no input %q", b.Name, name)
		}
		if _, err := ParseRef(b.Inputs[name]); err != nil {
			v.c.add(n.ID, bp+".inputs."+name, "%v", err)
		}
	}
	if len(sv.c.list) > 0 {
		return
	}
	if b.Digest != "" {
		d, err := Digest(sub)
		if err != nil {
			v.c.add(n.ID, bp, "branch %q: %v", b.Name, err)
		} else if d != b.Digest {
			v.c.add(n.ID, bp+".digest", "branch %q: the sub-plan's digest is %s, not the declared %s", b.Name, d, b.Digest)
		}
	}
}

// under returns the positions below prefix, re-rooted at "".
func (p positions) under(prefix string) positions {
	out := positions{}
	for k, l := range p {
		switch {
		case k == prefix:
			out[""] = l
		case strings.HasPrefix(k, prefix+"."):
			out[strings.TrimPrefix(k, prefix+".")] = l
		}
	}
	return out
}

// routerRefs lists the references a router reads: its classifier and its branches' inputs.
func routerRefs(n *Node, path string) []nodeRef {
	var out []nodeRef
	r := n.Router
	if ref, err := ParseRef(r.On); err == nil {
		out = append(out, nodeRef{ref: ref, path: path + ".router.on"})
	}
	for j, b := range r.Branches {
		for _, name := range sortedKeys(b.Inputs) {
			if ref, err := ParseRef(b.Inputs[name]); err == nil {
				out = append(out, nodeRef{ref: ref, path: fmt.Sprintf("%s.router.branches[%d].inputs.%s", path, j, name)})
			}
		}
	}
	return out
}

// canonicalRouter replaces each branch by its canonical, self-contained form: the sub-plan
// inline (path dropped) and its digest set.
func canonicalRouter(m map[string]any, r *RouterNode) error {
	bs, _ := m["branches"].([]any)
	for j := range bs {
		bm, ok := bs[j].(map[string]any)
		if !ok || j >= len(r.Branches) {
			continue
		}
		sub := r.Branches[j].SubPlan()
		if sub == nil {
			return fmt.Errorf("branch %q has no plan", r.Branches[j].Name)
		}
		c, err := Canonical(sub)
		if err != nil {
			return fmt.Errorf("branch %q: %w", r.Branches[j].Name, err)
		}
		dec := json.NewDecoder(bytes.NewReader(c))
		dec.UseNumber()
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			return fmt.Errorf("branch %q: %w", r.Branches[j].Name, err)
		}
		delete(bm, "path")
		bm["plan"] = doc
		bm["digest"] = digestOf(c)
	}
	return nil
}

// Routers returns the router nodes of p, in declaration order (not those inside branches).
func (p *Plan) Routers() []*Node {
	var out []*Node
	for i := range p.Nodes {
		if p.Nodes[i].Substrate == SubstrateRouter && p.Nodes[i].Router != nil {
			out = append(out, &p.Nodes[i])
		}
	}
	return out
}

// Uses reports whether a node of p, inside router branches too, runs on substrate s: a plan
// without code nodes needs no sandbox or Go toolchain, one without llm nodes no student.
func (p *Plan) Uses(s Substrate) bool {
	found := false
	p.Walk(func(_ *Plan, n *Node) { found = found || n.Substrate == s })
	return found
}

// Walk calls fn for every node of p and, depth first, of the sub-plans of its routers' branches
// (plan is the plan holding the node). Whatever asks "which substrates does this plan use" (to
// set up a student or a sandbox) must see the branches too.
func (p *Plan) Walk(fn func(plan *Plan, n *Node)) {
	for i := range p.Nodes {
		n := &p.Nodes[i]
		fn(p, n)
		if n.Substrate == SubstrateRouter && n.Router != nil {
			for j := range n.Router.Branches {
				if sub := n.Router.Branches[j].SubPlan(); sub != nil {
					sub.Walk(fn)
				}
			}
		}
	}
}
