package experiment

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/internal/simtest"
	"github.com/sgde-project/sgde/internal/testlong"
	"github.com/sgde-project/sgde/runtime"
)

// env starts a simulator that knows the data files' items and returns a runner on it.
func env(t *testing.T, data ...string) *runtime.Runner {
	t.Helper()
	return simtest.Runner(t, "../../testdata", data...)
}

// TestStudyResumesAndReports runs a tiny study on one recorded BBH family: every (size, seed)
// run compiles on exactly its size and is scored on the same test set; a second start with the
// same settings compiles nothing, one with a new size compiles only that size, and one with
// another held-out size compiles everything again. The report names the PAC bound, the
// simulated student and every run.
func TestStudyResumesAndReports(t *testing.T) {
	const task, data = "../../testdata/tasks/bbh/sports_understanding.yaml", "../../testdata/bbh/sports_understanding.jsonl"
	dir := t.TempDir()
	var lines []string
	cfg := Config{Task: task, Data: data, Dir: dir, Runner: env(t, data), Student: "sim", Simulated: true,
		Sizes: []int{4, 8, 1000}, Seeds: 2, Heldout: 20, Test: 20, Seed: 3, Ablation: true,
		Progress: func(s string) { lines = append(lines, s) }}
	st, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if got := len(st.Runs); got != 4 {
		t.Fatalf("%d runs, want 2 sizes (1000 does not fit) x 2 seeds", got)
	}
	for _, r := range st.Runs {
		if r.Result.PAC.TrainN != r.Size {
			t.Errorf("run n=%d compiled on %d items", r.Size, r.Result.PAC.TrainN)
		}
		for _, row := range r.Result.Rows {
			if row.N != 20 {
				t.Errorf("run n=%d: %s scored on %d items, want the 20 test items", r.Size, row.Name, row.N)
			}
		}
		if r.Result.PAC.M <= 0 {
			t.Errorf("run n=%d: no PAC bound", r.Size)
		}
	}
	count := func(sub string) int {
		n := 0
		for _, l := range lines {
			if strings.Contains(l, sub) {
				n++
			}
		}
		return n
	}
	if count(": compiling") != 4 {
		t.Errorf("progress: %q", lines)
	}

	tests := []struct {
		name      string
		change    func(*Config)
		compiles  int
		skipped   int
		wantSizes []int
	}{
		{"same settings", func(*Config) {}, 0, 4, []int{4, 8}},
		{"one more size", func(c *Config) { c.Sizes = []int{4, 8, 12} }, 2, 4, []int{4, 8, 12}},
		{"other held-out", func(c *Config) { c.Heldout, c.Sizes = 21, []int{4} }, 2, 0, []int{4}},
	}
	for _, tc := range tests {
		lines = nil
		c := cfg
		tc.change(&c)
		st, err = Run(context.Background(), c)
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if got := count(": compiling"); got != tc.compiles {
			t.Errorf("%s: %d compiles, want %d", tc.name, got, tc.compiles)
		}
		if got := count("done earlier"); got != tc.skipped {
			t.Errorf("%s: %d skipped, want %d", tc.name, got, tc.skipped)
		}
		if len(st.Sizes) != len(tc.wantSizes) {
			t.Errorf("%s: sizes %v, want %v", tc.name, st.Sizes, tc.wantSizes)
		}
	}

	// The ablations of a recorded family say which share of their answers was recorded.
	page0 := st.Page()
	abl := st.Runs[0].Result.Ablations
	if len(abl) < 4 || len(page0.Ablation.Rows) != len(abl) {
		t.Fatalf("ablation rows %v for ablations %v", page0.Ablation.Rows, abl)
	}
	for _, row := range page0.Ablation.Rows[:len(abl)-1] {
		if calls, rec := row[len(row)-2], row[len(row)-1]; calls != "0.00" && !strings.HasSuffix(rec, "%") {
			t.Errorf("ablation %s: recorded share %q", row[0], rec)
		}
	}
	if err := st.WriteReport(dir); err != nil {
		t.Fatal(err)
	}
	page, err := os.ReadFile(filepath.Join(dir, FileReport))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`id="simulated"`, "PAC m=", "class=\"run\"", "few-shot bootstrap", "sgde compiled", "Wilson"} {
		if !bytes.Contains(page, []byte(want)) {
			t.Errorf("report lacks %q", want)
		}
	}
	var txt bytes.Buffer
	if err := st.WriteTable(&txt); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(txt.String(), "simulated") || !strings.Contains(txt.String(), "recorded") {
		t.Errorf("table does not say where the answers came from:\n%s", txt.String())
	}
}

// TestNoSizeFits refuses a study whose sizes all exceed the pool.
func TestNoSizeFits(t *testing.T) {
	const task, data = "../../testdata/tasks/bbh/navigate.yaml", "../../testdata/bbh/navigate.jsonl"
	_, err := Run(context.Background(), Config{Task: task, Data: data, Dir: t.TempDir(), Runner: env(t, data), Sizes: []int{200}})
	if err == nil || !strings.Contains(err.Error(), "no training size fits") {
		t.Fatalf("err = %v", err)
	}
}

// TestStudyFamilies is the done-when on the simulator: GSM-Hard and two BBH families
// with the default sizes, seeds and ablations.
func TestStudyFamilies(t *testing.T) {
	testlong.Skip(t, "GSM-Hard and two BBH families, default sizes, a few minutes")
	for _, f := range []struct{ task, data string }{
		{"../../testdata/tasks/gsm-hard.yaml", "../../testdata/gsm-hard/slice.jsonl"},
		{"../../testdata/tasks/bbh/navigate.yaml", "../../testdata/bbh/navigate.jsonl"},
		{"../../testdata/tasks/bbh/boolean_expressions.yaml", "../../testdata/bbh/boolean_expressions.jsonl"},
	} {
		st, err := Run(context.Background(), Config{Task: f.task, Data: f.data, Dir: t.TempDir(), Runner: env(t, f.data),
			Simulated: true, Seed: 7, Ablation: true, Progress: func(s string) { t.Log(s) }})
		if err != nil {
			t.Fatalf("%s: %v", f.task, err)
		}
		if len(st.Runs) != len(DefaultSizes)*2 {
			t.Errorf("%s: %d runs", f.task, len(st.Runs))
		}
		for _, r := range st.Runs {
			if len(r.Result.Ablations) < 4 {
				t.Errorf("%s n=%d: %d ablations", f.task, r.Size, len(r.Result.Ablations))
			}
		}
	}
}

// TestDrawNested: a seed's draw depends only on the pool, its size and the seed, and a smaller
// draw is a prefix of a larger one, so adding sizes to a study never changes a saved run's items.
func TestDrawNested(t *testing.T) {
	pool := make([]runtime.Item, 100)
	for i := range pool {
		pool[i].ID = strconv.Itoa(i)
	}
	a, b := draw(pool, 8, 7), draw(pool, 32, 7)
	for i := range a {
		if a[i].ID != b[i].ID {
			t.Fatalf("draw of 8 is not a prefix of the draw of 32: %v vs %v", a, b[:8])
		}
	}
	if c := draw(pool, 8, 8); c[0].ID == a[0].ID && c[1].ID == a[1].ID && c[2].ID == a[2].ID {
		t.Error("another seed drew the same items")
	}
}
