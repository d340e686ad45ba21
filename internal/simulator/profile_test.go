package simulator

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestShippedProfiles(t *testing.T) {
	names := ProfileNames()
	for _, want := range []string{"slm-1.5b", "slm-7b"} {
		if !slices.Contains(names, want) {
			t.Fatalf("ProfileNames() = %v, missing %s", names, want)
		}
	}
	for _, n := range names {
		p, err := LoadProfile(n)
		if err != nil {
			t.Fatalf("LoadProfile(%s): %v", n, err)
		}
		if p.Name() != n {
			t.Errorf("profile file %s.yaml names itself %q", n, p.Name())
		}
		// Accuracy must not rise with operand size: that is the GSM-Hard effect.
		acc := p.spec.Direct.AccuracyByDigits
		for i := 1; i < len(acc); i++ {
			if acc[i] > acc[i-1] {
				t.Errorf("%s: direct accuracy rises from %d to %d digits", n, i, i+1)
			}
		}
	}
	if DefaultProfile().Name() != DefaultProfileName {
		t.Fatalf("DefaultProfile().Name() = %q", DefaultProfile().Name())
	}
}

func TestStrongerProfileIsStronger(t *testing.T) {
	weak, strong := DefaultProfile(), mustProfile(t, "slm-7b")
	for d := 1; d <= 9; d++ {
		if strong.directAccuracy(d) <= weak.directAccuracy(d) {
			t.Errorf("slm-7b direct accuracy at %d digits %.2f <= slm-1.5b %.2f", d, strong.directAccuracy(d), weak.directAccuracy(d))
		}
	}
	for s := 1; s <= 20; s++ {
		if strong.programError(s) >= weak.programError(s) {
			t.Errorf("slm-7b program error at %d steps >= slm-1.5b", s)
		}
	}
	for i := range complianceLevels {
		if strong.compliance[i] < weak.compliance[i] {
			t.Errorf("slm-7b complies less at level %s", complianceLevels[i])
		}
	}
}

func mustProfile(t testing.TB, name string) Profile {
	t.Helper()
	p, err := LoadProfile(name)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParseProfileErrors(t *testing.T) {
	base, err := profileFS.ReadFile("profiles/slm-1.5b.yaml")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ name, old, new, want string }{
		{"unknown key", "seed: 1501", "seed: 1501\nsede: 3", "sede"},
		{"probability above one", "corruption_rate: 0.11", "corruption_rate: 1.5", "program.corruption_rate"},
		{"negative accuracy", "[0.74,", "[-0.74,", "accuracy_by_digits[0]"},
		{"empty accuracy", "accuracy_by_digits: [0.74, 0.73, 0.55, 0.40, 0.28, 0.18, 0.10, 0.09]", "accuracy_by_digits: []", "must not be empty"},
		{"unknown corruption", "dropped_line: 0.25", "dropped_lines: 0.25", "dropped_lines"},
		{"all weights zero", "prose_fence: 0.50\n    plain_fence: 0.20\n    bare: 0.15\n    think: 0.15", "bare: 0", "program_shapes: weights"},
		{"missing compliance level", "    both: 0.92\n", "", "compliance.both is missing"},
		{"bad name", "name: slm-1.5b", "name: \"bad name\"", "name"},
		{"no context", "context_window: 32768", "context_window: 0", "context_window"},
		{"huge latency", "first_token_ms: 60", "first_token_ms: 1e9", "latency"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			src := strings.Replace(string(base), tc.old, tc.new, 1)
			if src == string(base) {
				t.Fatalf("test edit %q did not apply", tc.old)
			}
			_, err := ParseProfile([]byte(src))
			if err == nil || !errors.Is(err, ErrProfile) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v, want ErrProfile mentioning %q", err, tc.want)
			}
		})
	}
}

func TestLoadProfileByPath(t *testing.T) {
	base, _ := profileFS.ReadFile("profiles/slm-7b.yaml")
	path := filepath.Join(t.TempDir(), "mine.yaml")
	if err := os.WriteFile(path, []byte(strings.Replace(string(base), "name: slm-7b", "name: my-student", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := LoadProfile(path)
	if err != nil || p.Name() != "my-student" {
		t.Fatalf("LoadProfile(path) = %q, %v", p.Name(), err)
	}
	if _, err := LoadProfile("no-such-profile"); !errors.Is(err, ErrProfile) || !strings.Contains(err.Error(), "slm-7b") {
		t.Fatalf("unknown name: err = %v, want ErrProfile listing the shipped names", err)
	}
	if _, err := LoadProfile(filepath.Join(t.TempDir(), "absent.yaml")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("absent file: err = %v, want os.ErrNotExist", err)
	}
}
