package runtime_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/runtime"
)

func TestSelection(t *testing.T) {
	p := mustPlan(t, planLinear)
	var data strings.Builder
	for i := range 7 {
		fmt.Fprintf(&data, `{"idx": %d, "input": "q%d", "target": %d}`+"\n", i, i, i)
	}
	fields := runtime.Fields{Input: "input", Label: "target", ID: "idx"}
	for _, tt := range []struct {
		name     string
		sel      runtime.Selection
		wantIDs  string
		settings string
	}{
		{"all", runtime.Selection{Fields: fields}, "0 1 2 3 4 5 6", "map[]"},
		{"limit", runtime.Selection{Fields: fields, Limit: 3}, "0 1 2", "map[]"},
		{"shard after limit", runtime.Selection{Fields: fields, Limit: 5, Shard: "1/2"}, "1 3", "map[limit:5 shard:1/2 shard_items:2]"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			items, digest, err := tt.sel.Read(strings.NewReader(data.String()), p)
			if err != nil {
				t.Fatal(err)
			}
			var ids []string
			for _, it := range items {
				ids = append(ids, it.ID)
			}
			if got := strings.Join(ids, " "); got != tt.wantIDs {
				t.Errorf("ids %q, want %q", got, tt.wantIDs)
			}
			if !strings.HasPrefix(digest, "sha256:") || len(digest) != len("sha256:")+64 {
				t.Errorf("digest %q", digest)
			}
			m := map[string]string{}
			tt.sel.AddSettings(m, len(items))
			if got := fmt.Sprint(m); got != tt.settings {
				t.Errorf("settings %s, want %s", got, tt.settings)
			}
			path, err := tt.sel.ResultsPath(p, "data/d.jsonl")
			if err != nil {
				t.Fatal(err)
			}
			if hasShard := strings.Contains(path, ".shard-1-of-2.results.jsonl"); hasShard != (tt.sel.Shard != "") || !strings.HasSuffix(path, ".results.jsonl") {
				t.Errorf("results path %q", path)
			}
		})
	}
	if _, _, err := (runtime.Selection{Fields: fields, Shard: "2/2"}).Read(strings.NewReader(data.String()), p); err == nil {
		t.Error("shard 2/2 read without error")
	}
}
