package teacher

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/compiler/library"
	"github.com/sgde-project/sgde/compiler/synth"
	"github.com/sgde-project/sgde/plans"
)

// minSynthExamples is the fewest distinct input/output pairs a program is searched from: with
// fewer, too many programs fit and the shortest is a guess.
const minSynthExamples = 6

// synthesize searches (package synth) for a program over vetted primitives that maps the
// node's one plan input to the expected answer on every training example, when the node is the
// plan's output and got items wrong. It returns the offload edit carrying the program's Go
// source, and a line for the critique saying what the search tried.
func (l Library) synthesize(ctx context.Context, p *plans.Plan, n plans.Node, ev NodeEvidence, inConsensus string, allowed func(edit.Action) bool) (edit.Edit, string, bool) {
	if n.LLM == nil || inConsensus != "" || !allowed(edit.Offload) || len(ev.Failing) == 0 {
		return edit.Edit{}, "", false
	}
	if r, err := plans.ParseRef(p.Output); err != nil || r.Node != n.ID {
		return edit.Edit{}, "", false
	}
	var refs []string
	for _, m := range inputRef.FindAllStringSubmatch(n.LLM.Prompt, -1) {
		refs = append(refs, m[1])
	}
	if refs = dedupe(refs); len(refs) != 1 {
		return edit.Edit{}, "", false
	}
	input := strings.TrimPrefix(refs[0], "inputs.")
	var ex []synth.Example
	seen := map[string]bool{}
	for _, e := range allExamples(ev) {
		in, ok := e.Inputs[input].(string)
		out, ok2 := labelText(e.Expected)
		if !ok || !ok2 || seen[in] {
			continue
		}
		seen[in] = true
		ex = append(ex, synth.Example{In: in, Out: out})
	}
	if len(ex) < minSynthExamples {
		return edit.Edit{}, fmt.Sprintf("synthesis not tried: %d distinct examples, %d needed", len(ex), minSynthExamples), false
	}
	prog, rep, err := synth.Search(ctx, ex, l.SynthOptions)
	if err != nil {
		return edit.Edit{}, rep.String(), false
	}
	src, err := synth.Emit(prog, input, len(ex))
	if err != nil {
		return edit.Edit{}, rep.String() + "; emit failed: " + err.Error(), false
	}
	return edit.Edit{Action: edit.Offload, Node: n.ID, Source: src,
		Inputs:      map[string]string{input: "inputs." + input},
		Outputs:     map[string]plans.Type{"answer": plans.TypeString},
		OutputField: "answer"}, rep.String(), true
}

// labelText is a label as the text a program must produce.
func labelText(v any) (string, bool) {
	switch v := v.(type) {
	case string:
		return v, true
	case json.Number:
		return v.String(), true
	case float64, int, int64:
		return fmt.Sprint(v), true
	}
	return "", false
}

// catalogueEdit reports whether an edit carries a catalogue module's code (a vetted solver or
// the program evaluator), for Library.NoCatalogue.
func catalogueEdit(e edit.Edit) bool {
	srcs := []string{e.Source}
	for _, n := range e.Into {
		if n.Code != nil {
			srcs = append(srcs, n.Code.Source)
		}
	}
	for _, m := range append(library.Modules(), library.Solvers()...) {
		if slices.Contains(srcs, m.Source) {
			return true
		}
	}
	return false
}
