package teachersim

import (
	"embed"
	"regexp"
	"strings"
)

//go:embed solvers/*.go.src solvers/main.go.tmpl
var solverFS embed.FS

// family is a kind of question the simulated teacher knows how to write code for. It is told
// apart by what the questions in the traces look like, never by a task name or label.
type family struct {
	name string
	// looks reports whether a question is of this family.
	looks func(q string) bool
	// solver is the file under solvers/ holding the Go function solve(q string) (string, error).
	solver string
	// numeric: the answer is a number (rounding faults apply).
	numeric bool
	// list: the answer is a space-separated list (off-by-one drops its last element).
	list bool
}

var (
	boolRE  = regexp.MustCompile(`^[\s()]*(not\s+|True|False)[\sA-Za-z()]*\sis\s*$`)
	arithRE = regexp.MustCompile(`^[\s()\-+*0-9]+=\s*$`)
)

var families = []family{
	{name: "boolean", looks: func(q string) bool {
		return boolRE.MatchString(q) && !strings.ContainsAny(q, "0123456789")
	}, solver: "boolean.go.src"},
	{name: "arithmetic", looks: arithRE.MatchString, solver: "arithmetic.go.src", numeric: true},
	{name: "brackets", looks: func(q string) bool {
		return strings.Contains(q, "parentheses are closed properly") && strings.Contains(q, "Input:")
	}, solver: "brackets.go.src", list: true},
	{name: "sorting", looks: func(q string) bool {
		return strings.Contains(q, "Sort the following words alphabetically") && strings.Contains(q, "List:")
	}, solver: "sorting.go.src", list: true},
	{name: "navigation", looks: func(q string) bool {
		return strings.Contains(q, "return to the starting point?")
	}, solver: "steps.go.src"},
	{name: "swaps", looks: func(q string) bool {
		return strings.Contains(q, "At the start of") && strings.Contains(q, "At the end of the") && strings.Contains(q, "\nOptions:\n(A)")
	}, solver: "swaps.go.src"},
	{name: "truthfulness", looks: func(q string) bool {
		return strings.Contains(q, " says ") && strings.HasSuffix(strings.TrimSpace(q), "tell the truth?")
	}, solver: "lies.go.src"},
}

// recognise returns the family every question belongs to, or nil when the questions are
// mixed or of no family the teacher knows.
func recognise(questions []string) *family {
	if len(questions) == 0 {
		return nil
	}
	for i := range families {
		f := &families[i]
		all := true
		for _, q := range questions {
			if !f.looks(q) {
				all = false
				break
			}
		}
		if all {
			return f
		}
	}
	return nil
}

// source returns the full code-node source of f's solver with fault code in place of the
// //FAULT marker ("" for none).
func (f *family) source(fault string) string {
	tmpl, err := solverFS.ReadFile("solvers/main.go.tmpl")
	if err != nil {
		panic(err) // embedded at build time
	}
	body, err := solverFS.ReadFile("solvers/" + f.solver)
	if err != nil {
		panic(err)
	}
	s := strings.Replace(string(tmpl), "\t\t//FAULT\n", fault, 1)
	return s + "\n" + string(body)
}
