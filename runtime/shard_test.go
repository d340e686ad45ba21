package runtime_test

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/runtime"
)

func TestParseShard(t *testing.T) {
	for _, tt := range []struct {
		in   string
		k, n int
		ok   bool
	}{
		{"0/1", 0, 1, true}, {"2/3", 2, 3, true}, {"3/3", 0, 0, false}, {"-1/3", 0, 0, false},
		{"1/0", 0, 0, false}, {"1", 0, 0, false}, {"a/b", 0, 0, false}, {"", 0, 0, false},
	} {
		k, n, err := runtime.ParseShard(tt.in)
		if (err == nil) != tt.ok || k != tt.k || n != tt.n {
			t.Errorf("%q: %d/%d %v", tt.in, k, n, err)
		}
		if err != nil && !errors.Is(err, runtime.ErrShard) {
			t.Errorf("%q: %v is not ErrShard", tt.in, err)
		}
	}
}

func TestShardCoversOnce(t *testing.T) {
	for _, size := range []int{0, 1, 7, 100} {
		items := make([]runtime.Item, size)
		for i := range items {
			items[i].ID = fmt.Sprint(i)
		}
		for _, n := range []int{1, 2, 3, 8} {
			seen := map[string]int{}
			for k := range n {
				got := runtime.Shard(items, k, n)
				if d := len(got) - size/n; d < 0 || d > 1 {
					t.Errorf("%d items, shard %d/%d has %d", size, k, n, len(got))
				}
				for _, it := range got {
					seen[it.ID]++
				}
				if again := runtime.Shard(items, k, n); fmt.Sprint(again) != fmt.Sprint(got) {
					t.Errorf("shard %d/%d not deterministic", k, n)
				}
			}
			for _, it := range items {
				if seen[it.ID] != 1 {
					t.Errorf("%d items in %d shards: item %s in %d shards", size, n, it.ID, seen[it.ID])
				}
			}
		}
	}
}

// shardFile writes the results of shard k/n of a 6-item eval; change edits its header.
func shardFile(t *testing.T, dir string, k, n int, ids []int, change func(*runtime.ResultsHeader)) string {
	t.Helper()
	h := runtime.ResultsHeader{Version: 1, Plan: "p", PlanDigest: "sha256:aa", DataDigest: "sha256:dd", Metric: "numeric {RelTol:1e-06}",
		Settings: map[string]string{"student_model": "m", runtime.SettingShard: fmt.Sprintf("%d/%d", k, n),
			runtime.SettingShardItems: fmt.Sprint(len(runtime.Shard(make([]runtime.Item, 6), k, n)))}}
	if change != nil {
		change(&h)
	}
	var rs []runtime.ItemResult
	for _, id := range ids {
		rs = append(rs, runtime.ItemResult{ID: fmt.Sprint(id), Correct: id%2 == 0, Calls: 1})
	}
	f, err := os.CreateTemp(dir, fmt.Sprintf("s%d-%d-*.jsonl", k, n))
	if err != nil {
		t.Fatal(err)
	}
	path := f.Name()
	f.Close()
	os.Remove(path)
	if err := runtime.WriteResults(path, h, rs); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestMergeResults(t *testing.T) {
	dir := t.TempDir()
	s0, s1, s2 := shardFile(t, dir, 0, 3, []int{0, 3}, nil), shardFile(t, dir, 1, 3, []int{1, 4}, nil), shardFile(t, dir, 2, 3, []int{2, 5}, nil)
	short := shardFile(t, dir, 2, 3, []int{2}, nil)
	other := func(f func(*runtime.ResultsHeader)) string { return shardFile(t, dir, 2, 3, []int{2, 5}, f) }
	for _, tt := range []struct {
		name    string
		paths   []string
		partial bool
		want    error // nil: merges
		msg     string
	}{
		{"whole", []string{s2, s0, s1}, false, nil, ""},
		{"missing shard", []string{s0, s1}, false, runtime.ErrShard, "missing shards 2/3"},
		{"repeated shard", []string{s0, s1, s2, s2}, false, runtime.ErrShard, "in both"},
		{"short shard", []string{s0, s1, short}, false, runtime.ErrShard, "1 of its 2 results"},
		{"short shard, partial", []string{s0, s1, short}, true, nil, ""},
		{"other plan", []string{s0, s1, other(func(h *runtime.ResultsHeader) { h.PlanDigest = "sha256:bb" })}, false, runtime.ErrProvenance, "plan digest"},
		{"other data", []string{s0, s1, other(func(h *runtime.ResultsHeader) { h.DataDigest = "sha256:ee" })}, false, runtime.ErrProvenance, "data digest"},
		{"other metric", []string{s0, s1, other(func(h *runtime.ResultsHeader) { h.Metric = "exact {}" })}, false, runtime.ErrProvenance, "metric"},
		{"other option", []string{s0, s1, other(func(h *runtime.ResultsHeader) { h.Settings["student_model"] = "m2" })}, false, runtime.ErrProvenance, "student_model"},
		{"other shard count", []string{s0, s1, shardFile(t, dir, 2, 4, []int{2}, nil)}, false, runtime.ErrShard, "of 3 shards"},
		{"not a shard", []string{s0, s1, other(func(h *runtime.ResultsHeader) { delete(h.Settings, runtime.SettingShard) })}, false, runtime.ErrShard, "not the results of a shard"},
		{"item in two shards", []string{s0, s1, shardFile(t, dir, 2, 3, []int{2, 3}, nil)}, false, runtime.ErrShard, `item "3"`},
		{"none", nil, false, runtime.ErrShard, "no results files"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			h, rs, total, err := runtime.MergeResults(tt.paths, tt.partial)
			if tt.want != nil {
				if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), tt.msg) {
					t.Fatalf("err = %v, want %v mentioning %q", err, tt.want, tt.msg)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if total != 6 || h.Settings[runtime.SettingShard] != "" || h.Settings["student_model"] != "m" || h.PlanDigest != "sha256:aa" {
				t.Errorf("header %+v, total %d", h, total)
			}
			if want := 6; !tt.partial && len(rs) != want {
				t.Errorf("%d results, want %d", len(rs), want)
			}
			out := filepath.Join(t.TempDir(), "all.jsonl")
			if err := runtime.WriteResults(out, h, rs); err != nil {
				t.Fatal(err)
			}
			h2, rs2, err := runtime.ReadResults(out)
			if err != nil || h2 == nil || len(rs2) != len(rs) {
				t.Fatalf("merged file: %+v %v %v", h2, rs2, err)
			}
			for i := range rs2 {
				if i > 0 && rs2[i-1].ID >= rs2[i].ID {
					t.Errorf("merged results out of data order: %s before %s", rs2[i-1].ID, rs2[i].ID)
				}
			}
			if err := runtime.WriteResults(out, h, rs); err == nil {
				t.Error("WriteResults replaced an existing file")
			}
		})
	}
}

// FuzzParseShard: whatever the text, ParseShard either refuses it with ErrShard or returns a
// shard that Shard can take (0 <= K < N) and that prints back to an equivalent K/N.
func FuzzParseShard(f *testing.F) {
	for _, s := range []string{"0/1", "3/4", "4/4", "-1/2", "1/-2", "a/b", "/", "", "01/02", "9999999999999999999/1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		k, n, err := runtime.ParseShard(s)
		if err != nil {
			if !errors.Is(err, runtime.ErrShard) {
				t.Fatalf("%q: %v is not ErrShard", s, err)
			}
			return
		}
		if k < 0 || n < 1 || k >= n {
			t.Fatalf("%q: accepted %d/%d", s, k, n)
		}
		if k2, n2, err := runtime.ParseShard(fmt.Sprintf("%d/%d", k, n)); err != nil || k2 != k || n2 != n {
			t.Fatalf("%q: %d/%d does not read back: %d/%d %v", s, k, n, k2, n2, err)
		}
	})
}
