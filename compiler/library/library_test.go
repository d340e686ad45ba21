package library

import (
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
)

func TestCatalogue(t *testing.T) {
	for _, m := range Modules() {
		if !strings.Contains(m.Source, "package main") || !strings.Contains(m.Source, "guest.Run") {
			t.Errorf("module %s is not in the code-node ABI", m.Name)
		}
		if _, ok := m.Outputs[m.Result]; !ok {
			t.Errorf("module %s: result %q not among outputs", m.Name, m.Result)
		}
	}
	p := ProgramPrompt("{{ inputs.question }}")
	for _, cue := range []string{"def solution():", "```python", "no explanation", "{{ inputs.question }}"} {
		if !strings.Contains(p, cue) {
			t.Errorf("program prompt lacks %q", cue)
		}
	}
	if !HasFormatLine("x\n"+FormatLine(plans.ParserNumber), plans.ParserNumber) || HasFormatLine("x", plans.ParserNumber) {
		t.Error("HasFormatLine wrong")
	}
	if FormatLine(plans.ParserText) != "" || HasFormatLine("", plans.ParserText) {
		t.Error("text parser has no format line")
	}
	pt := Perturbations(5)
	if len(pt.Seeds) != 5 || pt.Seeds[4] != 5 {
		t.Errorf("perturbations = %+v", pt)
	}
}
