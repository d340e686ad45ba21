package demo

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sgde-project/sgde/compiler/report"
)

func TestParseSizes(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want []int
		ok   bool
	}{
		{"8,16,32", []int{8, 16, 32}, true},
		{" 4 , ,9", []int{4, 9}, true},
		{"", nil, false},
		{"8,0", nil, false},
		{"8,x", nil, false},
	} {
		got, err := ParseSizes(tt.in)
		if (err == nil) != tt.ok || !slices.Equal(got, tt.want) {
			t.Errorf("ParseSizes(%q) = %v, %v; want %v (ok %v)", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

// TestOutputFolders: a study or a suite may take an empty folder or its own earlier output,
// never a folder of someone else's files (a caller's mistake: *report.InputError).
func TestOutputFolders(t *testing.T) {
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("mine"), 0o644)
	var ie *report.InputError
	if err := claimExperimentDir(foreign); !errors.As(err, &ie) {
		t.Errorf("claimExperimentDir(foreign) = %v, want an InputError", err)
	}
	if err := clearSuiteDir(foreign); !errors.As(err, &ie) {
		t.Errorf("clearSuiteDir(foreign) = %v, want an InputError", err)
	}
	if _, err := os.Stat(filepath.Join(foreign, "notes.txt")); err != nil {
		t.Errorf("the foreign folder's file is gone: %v", err)
	}

	study := filepath.Join(t.TempDir(), "study")
	if err := claimExperimentDir(study); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(study, "run.json"), []byte("{}"), 0o644)
	if err := claimExperimentDir(study); err != nil {
		t.Errorf("claiming an earlier study's folder again: %v", err)
	}
	if _, err := os.Stat(filepath.Join(study, "run.json")); err != nil {
		t.Errorf("an earlier study's runs must be kept: %v", err)
	}

	suiteDir := t.TempDir()
	os.WriteFile(filepath.Join(suiteDir, fileSuiteMarker), nil, 0o644)
	os.WriteFile(filepath.Join(suiteDir, "suite.txt"), nil, 0o644)
	if err := clearSuiteDir(suiteDir); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(suiteDir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("an earlier suite's folder is not cleared: %v", err)
	}
}
