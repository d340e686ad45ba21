package teachersim

import (
	"encoding/json"
	"regexp"
	"strconv"
	"strings"

	"github.com/sgde-project/sgde/plans"
)

// request is what the teacher reads from the compiler's message: the plan and, per node, the
// executions it was shown.
type request struct {
	round, k int
	plan     *plans.Plan
	shown    map[string][]shownExample
	repair   bool // the compiler asked for a corrected reply
	// allowed are the actions the system message allows (nil: not said, all).
	allowed map[string]bool
	// mixed is the "## Mixed" section: a candidate that helped some items and hurt others.
	mixed *mixedEvidence
}

// mixedEvidence is a candidate's edits (raw JSON, copied into a branch) and the plan inputs of
// the items it helped and hurt.
type mixedEvidence struct {
	edits        json.RawMessage
	helped, hurt []map[string]any
}

type shownExample struct {
	wrong    bool
	expected string
	prompt   string
}

var (
	allowedRE = regexp.MustCompile(`Allowed actions in this run: ([a-z_, ]+)\.`)
	mixedRE   = regexp.MustCompile(`(?m)^\[(helped|hurt) item [^\]]*\] expected .*\ninputs: (.*)$`)
	headRE    = regexp.MustCompile(`^Round (\d+)\. Propose up to (\d+) candidates\.`)
	nodeRE    = regexp.MustCompile(`(?m)^## Node (\S+): `)
	exampleRE = regexp.MustCompile(`(?m)^\[(wrong|right) item [^\]]*\] expected (.*), plan returned `)
)

// readRequest parses the compiler's user message (compiler/teacher/llm.go, userPrompt). A
// message it cannot read yields ok=false, and the teacher answers in prose, as a model would.
func readRequest(msgs []message) (request, bool) {
	var r request
	user := ""
	for _, m := range msgs {
		if a := allowedRE.FindStringSubmatch(m.Content); m.Role == "system" && a != nil {
			r.allowed = map[string]bool{}
			for _, f := range strings.Split(a[1], ",") {
				r.allowed[strings.TrimSpace(f)] = true
			}
		}
		if m.Role == "user" {
			if user == "" {
				user = m.Content
			} else if strings.HasPrefix(m.Content, "Your reply could not be used") {
				r.repair = true
			}
		}
	}
	h := headRE.FindStringSubmatch(user)
	if h == nil {
		return r, false
	}
	r.round, _ = strconv.Atoi(h[1])
	r.k, _ = strconv.Atoi(h[2])
	_, rest, ok := strings.Cut(user, "\nPlan:\n")
	if !ok {
		return r, false
	}
	planText, sections, _ := strings.Cut(rest, "\n## ")
	var p plans.Plan
	if err := json.Unmarshal([]byte(planText), &p); err != nil {
		return r, false
	}
	r.plan = &p
	nodes := sections
	if strings.HasPrefix(sections, "Mixed: ") {
		var mixed string
		mixed, nodes, _ = strings.Cut(sections, "\n## Node ")
		r.mixed = readMixed(mixed)
	} else {
		nodes = strings.TrimPrefix(nodes, "Node ")
	}
	r.shown = map[string][]shownExample{}
	nodes = "## Node " + nodes
	locs := nodeRE.FindAllStringSubmatchIndex(nodes, -1)
	for i, loc := range locs {
		id := nodes[loc[2]:loc[3]]
		end := len(nodes)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		block := nodes[loc[1]:end]
		exs := exampleRE.FindAllStringSubmatchIndex(block, -1)
		for j, e := range exs {
			eend := len(block)
			if j+1 < len(exs) {
				eend = exs[j+1][0]
			}
			ex := shownExample{wrong: block[e[2]:e[3]] == "wrong", expected: block[e[4]:e[5]]}
			body := block[e[1]:eend]
			if _, after, ok := strings.Cut(body, "\nprompt: "); ok {
				ex.prompt = after
				for _, stop := range []string{"\nreply: ", "\ninput: ", "\nvalue: ", "\nerror: "} {
					if i := strings.LastIndex(ex.prompt, stop); i >= 0 {
						ex.prompt = ex.prompt[:i]
					}
				}
			}
			r.shown[id] = append(r.shown[id], ex)
		}
	}
	return r, true
}

var placeholderRE = regexp.MustCompile(`\{\{\s*inputs\.([A-Za-z0-9_\-]+)\s*\}\}`)

// readMixed parses the "## Mixed" section: its edits line and each item's inputs (a JSON
// object; one cut short by the compiler's truncation is skipped).
func readMixed(sec string) *mixedEvidence {
	m := &mixedEvidence{}
	for _, l := range strings.Split(sec, "\n") {
		if e, ok := strings.CutPrefix(l, "edits: "); ok && json.Valid([]byte(e)) {
			m.edits = json.RawMessage(e)
		}
	}
	for _, g := range mixedRE.FindAllStringSubmatch(sec, -1) {
		var in map[string]any
		if json.Unmarshal([]byte(g[2]), &in) != nil {
			continue
		}
		if g[1] == "helped" {
			m.helped = append(m.helped, in)
		} else {
			m.hurt = append(m.hurt, in)
		}
	}
	if m.edits == nil || len(m.helped) == 0 || len(m.hurt) == 0 {
		return nil
	}
	return m
}

// question recovers the plan input a rendered prompt holds, by matching the prompt against its
// template: the text before and after the one {{ inputs.NAME }} placeholder.
func question(template, rendered string) (input, q string, ok bool) {
	locs := placeholderRE.FindAllStringSubmatchIndex(template, -1)
	if len(locs) != 1 {
		return "", "", false
	}
	pre, post := template[:locs[0][0]], template[locs[0][1]:]
	input = template[locs[0][2]:locs[0][3]]
	if !strings.HasPrefix(rendered, pre) {
		return "", "", false
	}
	q = rendered[len(pre):]
	if i := strings.Index(q, "…[truncated]"); i >= 0 {
		return input, q[:i], true // the end is cut off; what is left is still the question's start
	}
	post = strings.TrimRight(post, "\n")
	q = strings.TrimRight(q, "\n")
	if !strings.HasSuffix(q, post) {
		return "", "", false
	}
	return input, q[:len(q)-len(post)], true
}
