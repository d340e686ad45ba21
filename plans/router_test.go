package plans

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestRouterChoose(t *testing.T) {
	r := &RouterNode{Default: "arith", Branches: []Branch{{Name: "arith"}, {Name: "date"}, {Name: "logic"}}}
	tests := []struct {
		in        any
		want      string
		defaulted bool
	}{
		{"date", "date", false},
		{"  Date.\n", "date", false},
		{`"logic"`, "logic", false},
		{"The answer is: date", "date", false},
		{"date or logic", "arith", true},
		{"nothing", "arith", true},
		{42.0, "arith", true},
		{"dates", "arith", true}, // a whole word only
	}
	for _, tt := range tests {
		c := r.Choose(tt.in)
		if c.Branch != tt.want || c.Defaulted != tt.defaulted || c.Reason == "" {
			t.Errorf("Choose(%q) = %+v, want branch %q defaulted %v", tt.in, c, tt.want, tt.defaulted)
		}
	}
}

// TestRouterDigestInlineEqualsPath: a branch referenced by path and digest and the same
// sub-plan inline have one canonical form, which carries the sub-plan inline with its digest.
func TestRouterDigestInlineEqualsPath(t *testing.T) {
	p, err := Load("../testdata/plans/mixed-routed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Canonical(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(c), `"path"`) || !strings.Contains(string(c), "bbh-zero-shot") {
		t.Fatalf("canonical form does not inline the branch: %s", c)
	}
	back, err := Parse(c, "mixed.json")
	if err != nil {
		t.Fatal(err)
	}
	d1, _ := Digest(p)
	d2, err := Digest(back)
	if err != nil || d1 != d2 {
		t.Fatalf("digest of the canonical form %s (%v) != %s", d2, err, d1)
	}
}

// TestRouterBranchDigestPinned: editing the file a branch names makes the plan invalid.
func TestRouterBranchDigestPinned(t *testing.T) {
	dir := t.TempDir()
	for _, f := range []string{"mixed-routed.yaml", "bbh-zero-shot.yaml"} {
		b, err := os.ReadFile(filepath.Join("../testdata/plans", f))
		must(t, err)
		must(t, os.WriteFile(filepath.Join(dir, f), b, 0o644))
	}
	if _, err := Load(filepath.Join(dir, "mixed-routed.yaml")); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(dir, "bbh-zero-shot.yaml"))
	must(t, os.WriteFile(filepath.Join(dir, "bbh-zero-shot.yaml"), []byte(strings.Replace(string(b), "max_tokens: 256", "max_tokens: 255", 1)), 0o644))
	_, err := Load(filepath.Join(dir, "mixed-routed.yaml"))
	if err == nil || !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), "digest") {
		t.Fatalf("edited branch file: err = %v, want a digest mismatch", err)
	}
}

// TestRouterMarshalRoundTrip: Marshal writes a routed plan (the path branch as written) that parses
// back to the same canonical form, in both formats.
func TestRouterMarshalRoundTrip(t *testing.T) {
	p, err := Load("../testdata/plans/mixed-routed.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c1, _ := Canonical(p)
	for _, format := range []Format{FormatYAML, FormatJSON} {
		out, err := Marshal(p, format)
		if err != nil {
			t.Fatal(err)
		}
		q, err := Parse(out, filepath.Join("../testdata/plans", "again."+string(format))) // paths stay relative to the plan folder
		if err != nil {
			t.Fatalf("Marshal(%s) output does not parse: %v\n%s", format, err, out)
		}
		if c2, err := Canonical(q); err != nil || string(c1) != string(c2) {
			t.Fatalf("canonical form changed through Marshal(%s): %v", format, err)
		}
	}
}

// TestUses: a plan's substrates are found inside router branches too (mixed-routed has llm
// nodes only in its branches), so a command sets up the student such a plan needs.
func TestUses(t *testing.T) {
	tests := []struct {
		file                 string
		llm, code, consensus bool
	}{
		{"gsm-hard-zero-shot.yaml", true, false, false},
		{"gsm-hard-compiled.yaml", true, true, true},
		{"mixed-routed.yaml", true, true, false},
	}
	for _, tt := range tests {
		p, err := Load(filepath.Join("..", "testdata", "plans", tt.file))
		if err != nil {
			t.Fatal(err)
		}
		for s, want := range map[Substrate]bool{SubstrateLLM: tt.llm, SubstrateCode: tt.code, SubstrateConsensus: tt.consensus} {
			if got := p.Uses(s); got != want {
				t.Errorf("%s: Uses(%s) = %v, want %v", tt.file, s, got, want)
			}
		}
	}
}
