package llm

import "testing"

func TestSourceOf(t *testing.T) {
	for fp, want := range map[string]string{
		"sgde-sim-slm-1.5b-1+recorded":  SourceRecorded,
		"sgde-sim-slm-1.5b-1+simulated": SourceSimulated,
		"fp_44709d6fcb":                 SourceModel,
		"":                              SourceModel,
		"recorded+":                     SourceModel,
	} {
		if got := SourceOf(fp); got != want {
			t.Errorf("SourceOf(%q) = %q, want %q", fp, got, want)
		}
	}
}
