package plans

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"
)

// FuzzParse feeds arbitrary bytes to the plan parser as YAML and as JSON. It must never panic
// or hang; every error must be an ErrorList; and a plan it accepts must have a canonical form
// that survives Marshal and Parse unchanged.
func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("../testdata/plans/*.yaml")
	more, _ := filepath.Glob("../testdata/plans/invalid/*.*")
	seeds = append(seeds, more...)
	seeds = append(seeds, "testdata/canonical/full.yaml", "testdata/canonical/full-reformatted.json")
	for _, s := range seeds {
		if data, err := os.ReadFile(s); err == nil {
			f.Add(data, filepath.Ext(s) == ".json")
		}
	}
	f.Add([]byte(validPlan), false)
	f.Add([]byte("a: &a [*a]"), false)
	f.Add([]byte(`{"apiVersion": "sgde/v1", "nodes": [{"id": "x", "id": "y"}]}`), true)
	f.Fuzz(func(t *testing.T, data []byte, asJSON bool) {
		name := "fuzz.yaml"
		if asJSON {
			name = "fuzz.json"
		}
		// The plan "lives" in testdata/fuzz-root, an empty folder, so code paths find nothing.
		p, err := Parse(data, filepath.Join("testdata", "fuzz-root", name))
		if err != nil {
			if _, ok := err.(ErrorList); !ok {
				t.Fatalf("error is %T, not ErrorList: %v", err, err)
			}
			return
		}
		c1, err := Canonical(p)
		if err != nil {
			t.Fatalf("valid plan has no canonical form: %v", err)
		}
		for _, format := range []Format{FormatYAML, FormatJSON} {
			out, err := Marshal(p, format)
			if err != nil {
				t.Fatalf("Marshal(%s): %v", format, err)
			}
			q, err := Parse(out, filepath.Join("testdata", "fuzz-root", "again."+string(format)))
			if err != nil {
				t.Fatalf("Marshal(%s) output does not parse: %v\n%s", format, err, out)
			}
			c2, err := Canonical(q)
			if err != nil || string(c1) != string(c2) {
				t.Fatalf("canonical form changed through Marshal(%s):\n%s\n%s", format, c1, c2)
			}
		}
	})
}

// TestAliasBomb checks that a YAML "billion laughs" document is rejected quickly.
func TestAliasBomb(t *testing.T) {
	doc := "apiVersion: sgde/v1\nkind: Plan\nmetadata: {name: bomb}\na0: &a0 [x, x, x, x, x, x, x, x, x, x]\n"
	for i := 1; i < 10; i++ {
		doc += fmt.Sprintf("a%d: &a%d [*a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d, *a%d]\n", i, i, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1, i-1)
	}
	done := make(chan error, 1)
	go func() { _, err := Parse([]byte(doc), "bomb.yaml"); done <- err }()
	select {
	case err := <-done:
		if err == nil {
			t.Fatal("Parse accepted an alias bomb")
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Parse of an alias bomb did not finish in 10s")
	}
}
