package demo

import (
	"context"
	"errors"
	"testing"

	"github.com/sgde-project/sgde/compiler/report"
)

// TestMixtureInputErrors: the settings a mixture run cannot honour are the caller's mistakes
// (*report.InputError, exit 2), found before the simulator starts.
func TestMixtureInputErrors(t *testing.T) {
	t.Chdir("../..") // the mixture files are found from the repository, as the command is run
	for _, tc := range []struct {
		name    string
		o       SuiteOptions
		setting string
	}{
		{"resume", SuiteOptions{Name: "mixture", Resume: true}, ""},
		{"ablation", SuiteOptions{Name: "mixture", Ablation: true}, ""},
		{"no such mixture", SuiteOptions{Name: "mixture-nope"}, ""},
		{"no such family", SuiteOptions{Name: "mixture", Families: []string{"navigate"}}, "--families"},
		{"one family", SuiteOptions{Name: "mixture", Families: []string{"gsm-hard"}}, "--families"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.o.Dir = t.TempDir()
			err := Suite(context.Background(), tc.o)
			var ie *report.InputError
			if !errors.As(err, &ie) || ie.Setting != tc.setting {
				t.Fatalf("err = %v, want an InputError for %q", err, tc.setting)
			}
		})
	}
}
