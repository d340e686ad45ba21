package library

import (
	_ "embed"
	"fmt"
	"strings"

	"github.com/sgde-project/sgde/compiler/library/modules/dates"
	"github.com/sgde-project/sgde/compiler/library/solvers"
	"github.com/sgde-project/sgde/plans"
)

// The plan that inlines the module is generated from it; see internal/genplan.
//go:generate go run ./internal/genplan -plan ../../testdata/plans/gsm-hard-compiled.yaml

// arithProgram is the source of modules/arith, a package of its own so that make lint covers it
// and its unit tests run natively through the guest SDK's native build.
//
//go:embed modules/arith/arith_program.go
var arithProgram string

// Module is a vetted code node: reviewed Go source in the code-node ABI and its interface.
type Module struct {
	Name        string
	Description string
	// Source is the Go source (package main, guest.Run).
	Source string
	// Inputs and Outputs declare the node's fields and their types.
	Inputs  map[string]plans.Type
	Outputs map[string]plans.Type
	// Result is the output field that carries the node's answer.
	Result string
}

// ArithProgram evaluates the Python `def solution():` programs students write for math word
// problems (program-aided language models), exactly and with every resource capped. Its source
// is compiler/library/modules/arith/arith_program.go, embedded.
func ArithProgram() Module {
	return Module{
		Name:        "arith_program",
		Description: "exact evaluator for PAL-style Python solution() programs",
		Source:      arithProgram,
		Inputs:      map[string]plans.Type{"program": plans.TypeString},
		Outputs:     map[string]plans.Type{"answer": plans.TypeNumber},
		Result:      "answer",
	}
}

//go:embed modules/tally/tally.go
var tallySource string

// Tally adds up counts a student extracted: input {"counts": object or list of non-negative
// integers}, output {"answer": integer}; anything else is refused. It is the code half of the
// teacher's split for questions whose answer is a sum of some of the quantities they state.
// Its source is compiler/library/modules/tally/tally.go, embedded.
func Tally() Module {
	return Module{
		Name:        "tally",
		Description: "sum of extracted counts (object or list of non-negative integers)",
		Source:      tallySource,
		Inputs:      map[string]plans.Type{"counts": plans.TypeAny},
		Outputs:     map[string]plans.Type{"answer": plans.TypeInteger},
		Result:      "answer",
	}
}

// ExtractCountsPrompt asks the student for the language half of the split: which things the
// question counts and how many of each, as one JSON object, and no sum (the code node adds).
func ExtractCountsPrompt(question string) string {
	return "Read the question below. List every item that the question asks to count, with how many of it there are, " +
		"as one JSON object mapping each item to its count (for example {\"apple\": 2, \"pear\": 1}). " +
		"Leave out items the question does not ask about. Do not add the counts up. Reply with only the JSON object.\n\nQuestion: " + question
}

//go:embed modules/dates/dates.go
var datesSource string

// DateArith is the code half of the teacher's split for questions about dates: input
// {"extraction": {"date": "MM/DD/YYYY", "offsets": [{"days": -1}, ...]}, "question": string},
// output {"answer": string}, the option letter "(D)" whose date the extraction computes to (or
// the date itself when the question lists no options). A malformed extraction is refused with an
// error that names the problem. Its source is package compiler/library/modules/dates verbatim,
// renamed to package main, plus an entry point: the same code is tested natively and fuzzed in
// its package.
func DateArith() Module {
	src := strings.Replace(datesSource, "\npackage dates\n", "\npackage main\n", 1)
	src = strings.Replace(src, "\nimport (\n", "\nimport (\n\t\"github.com/sgde-project/sgde/wasm/guest\"\n", 1)
	src += `
func main() { guest.Run(solveDate) }

func solveDate(in map[string]any) (map[string]any, error) {
	ext, ok := in["extraction"]
	if !ok {
		return nil, errors.New("input needs a field \"extraction\"")
	}
	q, _ := in["question"].(string)
	a, err := Answer(ext, q)
	if err != nil {
		return nil, err
	}
	return map[string]any{"answer": a}, nil
}
`
	return Module{
		Name:        "date_arith",
		Description: "calendar arithmetic on an extracted date and offsets; picks the option naming the result",
		Source:      src,
		Inputs:      map[string]plans.Type{"extraction": plans.TypeAny, "question": plans.TypeString},
		Outputs:     map[string]plans.Type{"answer": plans.TypeString},
		Result:      "answer",
	}
}

// OptionsAreDates reports whether the question lists answer options ("(A) 08/04/2002", one a
// line) and every one of them is a calendar date the date module reads: the input feature
// that makes the date split worth trying.
func OptionsAreDates(question string) bool {
	opts, err := dates.QuestionOptions(question)
	if err != nil || len(opts) < 2 {
		return false
	}
	for _, o := range opts {
		if _, err := dates.ParseDate(o); err != nil {
			return false
		}
	}
	return true
}

// ExtractDatePrompt asks the student for the language half of the date split: the date the
// question states and the calendar steps from it to the date asked about, as one JSON object,
// and no arithmetic (the code node counts the calendar).
func ExtractDatePrompt(question string) string {
	return "Read the question below. Extract, as one JSON object, the one date the question states, written MM/DD/YYYY, " +
		"and the steps from that date to the date the question asks for, in order, as a list of offsets in days, weeks, months or years " +
		"(negative for the past), for example {\"date\": \"07/29/2002\", \"offsets\": [{\"days\": -1}, {\"weeks\": 1}]} " +
		"for \"tomorrow is Jul 29, 2002; what is the date one week from today?\". Do not compute the date yourself. " +
		"Reply with only the JSON object.\n\nQuestion: " + question
}

// Modules lists the catalogue's code modules.
func Modules() []Module {
	return append([]Module{ArithProgram(), Tally(), DateArith()}, Solvers()...)
}

// ProgramPrompt asks the student for a PAL program for the problem rendered by problemRef
// templates (for example "{{ inputs.question }}"). The instruction names the function, the
// fence and the absence of prose, because small models follow explicit format lines far more
// often than implicit ones.
func ProgramPrompt(problem string) string {
	return "Write a Python program that solves the math word problem below. Define `def solution():` " +
		"that computes the answer step by step, one variable per quantity, and returns the final number. " +
		"Reply with only the code in one ```python block, no explanation.\n\nProblem: " + problem
}

// FormatLine is the explicit output-format instruction for a parser type, or "" when the
// catalogue has none for it.
func FormatLine(t plans.ParserType) string {
	switch t {
	case plans.ParserNumber, plans.ParserInteger:
		return "Reply with only the final number, nothing else: no words, no units."
	case plans.ParserCode:
		return "Reply with only the code in one ```python block, no explanation."
	case plans.ParserJSON:
		return "Reply with only one JSON object, no prose and no code fences."
	}
	return ""
}

// HasFormatLine reports whether prompt already carries the catalogue's format line for t.
func HasFormatLine(prompt string, t plans.ParserType) bool {
	l := FormatLine(t)
	return l != "" && strings.Contains(prompt, l)
}

// ConsensusSizes are the sample counts the catalogue offers, smallest (cheapest) first.
func ConsensusSizes() []int { return []int{3, 5, 7} }

// ConsensusTemperature is the sampling temperature of consensus samples: high enough that
// samples err independently, low enough that each stays near greedy accuracy.
const ConsensusTemperature = 0.7

// MaxDemos is the number of few-shot demonstrations bootstrapped from successful traces.
const MaxDemos = 3

// Vote returns the catalogue's vote for a value type: plurality on numbers compared to 10
// significant digits (ties to the first value seen), exact plurality otherwise.
func Vote(t plans.Type) plans.Vote {
	if t == plans.TypeNumber || t == plans.TypeInteger {
		return plans.Vote{Method: plans.VotePlurality, TieBreak: plans.TieFirst, Normalize: "number", Precision: 10}
	}
	return plans.Vote{Method: plans.VotePlurality, TieBreak: plans.TieFirst, Normalize: "text"}
}

// Perturbations gives sample i the consensus temperature and the seed i+1, so that samples
// are independent draws yet a rerun with a response cache replays them exactly.
func Perturbations(n int) plans.Perturbations {
	seeds := make([]int64, n)
	for i := range seeds {
		seeds[i] = int64(i + 1)
	}
	return plans.Perturbations{Temperatures: []float64{ConsensusTemperature}, Seeds: seeds}
}

//go:embed solvers/solvers.go
var solversSource string

// Solver returns the code module that runs the text solver called name (package
// compiler/library/solvers) on a question: input {"question": string}, output {"answer":
// string}. Its source is the solvers package verbatim, renamed to package main, plus an entry
// point that calls that one solver; the same code is tested natively and fuzzed in its package.
func Solver(name string) (Module, bool) {
	if _, ok := solvers.ByName(name); !ok {
		return Module{}, false
	}
	src := strings.Replace(solversSource, "\npackage solvers\n", "\npackage main\n", 1)
	src = strings.Replace(src, "\nimport (\n", "\nimport (\n\t\"github.com/sgde-project/sgde/wasm/guest\"\n", 1)
	src += `
// solverName is the one solver this code node runs.
const solverName = "` + name + `"

func main() { guest.Run(solveQuestion) }

func solveQuestion(in map[string]any) (map[string]any, error) {
	q, ok := in["question"].(string)
	if !ok {
		return nil, errors.New("input needs a string field \"question\"")
	}
	f, _ := ByName(solverName)
	a, err := f(q)
	if err != nil {
		return nil, err
	}
	return map[string]any{"answer": a}, nil
}
`
	return Module{
		Name:        name,
		Description: "text solver " + name + ": computes the answer from the question alone",
		Source:      src,
		Inputs:      map[string]plans.Type{"question": plans.TypeString},
		Outputs:     map[string]plans.Type{"answer": plans.TypeString},
		Result:      "answer",
	}, true
}

// Solvers lists the text-solver modules, in the order the teacher tries them.
func Solvers() []Module {
	var out []Module
	for _, n := range solvers.Names() {
		m, _ := Solver(n)
		out = append(out, m)
	}
	return out
}

// SolveNative runs the solver called name on the host, for the teacher's diagnosis: which
// solvers answer the training items the traces show. Only vetted solver code runs here, never
// a student's program.
func SolveNative(name, question string) (string, error) {
	f, ok := solvers.ByName(name)
	if !ok {
		return "", fmt.Errorf("no solver %q", name)
	}
	return f(question)
}
