package plans

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files (and the inline source of the compiled example plan)")

// golden compares got with the file at path, or rewrites the file under -update.
func golden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		must(t, os.MkdirAll(filepath.Dir(path), 0o755))
		must(t, os.WriteFile(path, got, 0o644))
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read golden file (run with -update to create it): %v", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the output (run with -update after checking the change):\n--- got\n%s\n--- want\n%s", path, got, want)
	}
}

// examplePlans are the plans shipped in the repository's testdata/plans.
func examplePlans(t *testing.T) []string {
	files, err := filepath.Glob("../testdata/plans/*.yaml")
	if err != nil || len(files) < 2 {
		t.Fatalf("example plans: %v %v", files, err)
	}
	return files
}

func TestCanonicalGolden(t *testing.T) {
	p, err := Load("testdata/canonical/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	c, err := Canonical(p)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "testdata/canonical/full.canonical.json", append(c, '\n'))
	d, _ := Digest(p)
	golden(t, "testdata/canonical/full.digest", []byte(d+"\n"))
}

// TestDigestStableAcrossFormatting loads the same plan written in different ways (YAML and
// JSON, keys and nodes reordered, flow and block style, "90s" and "1m30s", 0.7 and 7e-1, and
// the Marshal output in both formats) and expects one digest.
func TestDigestStableAcrossFormatting(t *testing.T) {
	p, err := Load("testdata/canonical/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	want, err := Digest(p)
	if err != nil {
		t.Fatal(err)
	}
	q, err := Load("testdata/canonical/full-reformatted.json")
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := Digest(q); got != want {
		a, _ := Canonical(p)
		b, _ := Canonical(q)
		t.Errorf("reformatted digest %s, want %s\n%s\n%s", got, want, a, b)
	}
	raw, err := os.ReadFile("testdata/canonical/full.yaml")
	must(t, err)
	crlf := append([]byte("\xef\xbb\xbf"), bytes.ReplaceAll(raw, []byte("\n"), []byte("\r\n"))...)
	r, err := Parse(crlf, "testdata/canonical/crlf-bom.yaml")
	if err != nil {
		t.Fatalf("CRLF line ends and a byte order mark: %v", err)
	}
	if got, _ := Digest(r); got != want {
		t.Errorf("CRLF line ends and a byte order mark: digest %s, want %s", got, want)
	}
	for _, f := range []Format{FormatYAML, FormatJSON} {
		out, err := Marshal(p, f)
		if err != nil {
			t.Fatal(err)
		}
		// Parse resolves code paths against the file's folder, so name it as if beside full.yaml.
		r, err := Parse(out, "testdata/canonical/marshalled."+string(f))
		if err != nil {
			t.Fatalf("parse Marshal(%s) output: %v\n%s", f, err, out)
		}
		if got, _ := Digest(r); got != want {
			t.Errorf("Marshal(%s) round trip digest %s, want %s\n%s", f, got, want, out)
		}
	}
}

func TestMarshalReadable(t *testing.T) {
	p, err := Load("testdata/canonical/full.yaml")
	if err != nil {
		t.Fatal(err)
	}
	out, err := Marshal(p, FormatYAML)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"prompt: |\n", "source: |\n", "path: code/double.go\n"} {
		if !bytes.Contains(out, []byte(want)) {
			t.Errorf("Marshal YAML lacks %q:\n%s", want, out)
		}
	}
}

// TestDigestCoversCodeFiles edits the file a code node points to and expects a new digest.
func TestDigestCoversCodeFiles(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "code"), 0o755))
	src, err := os.ReadFile("testdata/canonical/code/double.go")
	must(t, err)
	plan, err := os.ReadFile("testdata/canonical/full.yaml")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "full.yaml"), plan, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "code", "double.go"), src, 0o644))
	p, err := Load(filepath.Join(dir, "full.yaml"))
	must(t, err)
	before, _ := Digest(p)
	must(t, os.WriteFile(filepath.Join(dir, "code", "double.go"), append(src, []byte("\n// edited\n")...), 0o644))
	p, err = Load(filepath.Join(dir, "full.yaml"))
	must(t, err)
	after, _ := Digest(p)
	if before == after {
		t.Errorf("digest %s did not change when the code file changed", before)
	}
	want, _ := os.ReadFile("testdata/canonical/full.digest")
	if before != strings.TrimSpace(string(want)) {
		t.Errorf("digest in another folder %s, want %s: the digest must not depend on where the plan lives", before, want)
	}
}

func TestGraphGolden(t *testing.T) {
	files := append(examplePlans(t), "testdata/canonical/full.yaml")
	for _, file := range files {
		p, err := Load(file)
		if err != nil {
			t.Fatal(err)
		}
		name := strings.TrimSuffix(filepath.Base(file), filepath.Ext(file))
		for format, ext := range map[GraphFormat]string{GraphMermaid: ".mmd", GraphDOT: ".dot", GraphSVG: ".svg"} {
			var b bytes.Buffer
			if err := WriteGraph(&b, p, format); err != nil {
				t.Fatal(err)
			}
			golden(t, filepath.Join("testdata/graph", name+ext), b.Bytes())
		}
	}
}

// TestInvalidPlans checks the complete error report of each plan in testdata/plans/invalid.
func TestInvalidPlans(t *testing.T) {
	files, _ := filepath.Glob("../testdata/plans/invalid/*.*")
	n := 0
	for _, file := range files {
		if strings.HasSuffix(file, ".err") {
			continue
		}
		n++
		t.Run(filepath.Base(file), func(t *testing.T) {
			_, err := Load(file)
			if err == nil {
				t.Fatal("Load succeeded, want errors")
			}
			var list ErrorList
			if !errors.As(err, &list) {
				t.Fatalf("error %T is not an ErrorList: %v", err, err)
			}
			for _, e := range list {
				if e.Line == 0 {
					t.Errorf("error without a line: %v", e)
				}
			}
			got := strings.ReplaceAll(err.Error(), filepath.Dir(file)+string(filepath.Separator), "") + "\n"
			golden(t, file+".err", []byte(got))
		})
	}
	if n < 8 {
		t.Errorf("found %d invalid plans, want at least 8", n)
	}
}

func TestExamplePlansValid(t *testing.T) {
	for _, file := range examplePlans(t) {
		if _, err := Load(file); err != nil {
			t.Errorf("%v", err)
		}
	}
}

// TestDigestConcurrent is a hammer test: goroutines released together compute the digest of one
// loaded plan while the code file it names changes on disk. Run under -race; every digest must
// be the one of the source that was loaded.
func TestDigestConcurrent(t *testing.T) {
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "code"), 0o755))
	src, err := os.ReadFile("testdata/canonical/code/double.go")
	must(t, err)
	plan, err := os.ReadFile("testdata/canonical/full.yaml")
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "full.yaml"), plan, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "code", "double.go"), src, 0o644))
	p, err := Load(filepath.Join(dir, "full.yaml"))
	must(t, err)
	want, err := Digest(p)
	must(t, err)
	must(t, os.WriteFile(filepath.Join(dir, "code", "double.go"), append(src, "// changed\n"...), 0o644))

	const P, N = 8, 20
	defer runtimeGOMAXPROCS(P / 2)()
	var start, done sync.WaitGroup
	start.Add(1)
	errs := make(chan string, P*N)
	for range P {
		done.Add(1)
		go func() {
			defer done.Done()
			start.Wait()
			for range N {
				if got, err := Digest(p); err != nil || got != want {
					errs <- fmt.Sprintf("Digest = %s, %v; want %s", got, err, want)
				}
			}
		}()
	}
	start.Done()
	done.Wait()
	close(errs)
	for e := range errs {
		t.Fatal(e)
	}
}

func runtimeGOMAXPROCS(n int) func() {
	old := runtime.GOMAXPROCS(n)
	return func() { runtime.GOMAXPROCS(old) }
}
