package library

import (
	"os"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
)

// TestArithProgramInSync keeps the embedded module byte-identical to the reviewed source.
func TestArithProgramInSync(t *testing.T) {
	want, err := os.ReadFile("../../testdata/code/arith_program.go")
	if err != nil {
		t.Fatalf("read reviewed source: %v", err)
	}
	if got := ArithProgram().Source; got != string(want) {
		t.Fatal("compiler/library/modules/arith_program.go.src differs from testdata/code/arith_program.go: " +
			"run `cp testdata/code/arith_program.go compiler/library/modules/arith_program.go.src` after review")
	}
}

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
