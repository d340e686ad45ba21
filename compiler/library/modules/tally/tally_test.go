package main

import (
	"encoding/json"
	"strings"
	"testing"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	d := json.NewDecoder(strings.NewReader(s))
	d.UseNumber()
	var v any
	if err := d.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestTally(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want int64
		err  string
	}{
		{in: `{"apple": 2, "pear": 1}`, want: 3},
		{in: `[4, 1, 1]`, want: 6},
		{in: `{"goats": "2", "dog": 1}`, want: 3},
		{in: `{"cars": 3.0}`, want: 3},
		{in: `{}`, want: 0},
		{in: `{"a": 2.5}`, err: "whole"},
		{in: `{"a": -1}`, err: "range"},
		{in: `{"a": "two"}`, err: "whole"},
		{in: `{"a": {"b": 1}}`, err: "not a number"},
		{in: `{"a": 1e300}`, err: "whole"},
		{in: `"7"`, err: "object or a list"},
		{in: `{"a": 2000000}`, err: "range"},
	} {
		got, err := tally(decode(t, tc.in))
		switch {
		case tc.err != "" && (err == nil || !strings.Contains(err.Error(), tc.err)):
			t.Errorf("%s: err %v, want %q", tc.in, err, tc.err)
		case tc.err == "" && (err != nil || got != tc.want):
			t.Errorf("%s: %d, %v, want %d", tc.in, got, err, tc.want)
		}
	}
}

func TestSolveNeedsCounts(t *testing.T) {
	if _, err := solve(map[string]any{"question": "x"}); err == nil {
		t.Fatal("no error without counts")
	}
	out, err := solve(map[string]any{"counts": []any{json.Number("2"), json.Number("5")}})
	if err != nil || out["answer"] != int64(7) {
		t.Fatalf("got %v, %v", out, err)
	}
}

func TestTallyTooMany(t *testing.T) {
	items := make([]any, maxItems+1)
	for i := range items {
		items[i] = json.Number("1")
	}
	if _, err := tally(items); err == nil || !strings.Contains(err.Error(), "at most") {
		t.Fatalf("err %v", err)
	}
}

func FuzzTally(f *testing.F) {
	for _, s := range []string{`{"a":1}`, `[1,2]`, `{"a":"3"}`, `[[1]]`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		d := json.NewDecoder(strings.NewReader(s))
		d.UseNumber()
		var v any
		if d.Decode(&v) != nil {
			return
		}
		n, err := tally(v)
		if err == nil && (n < 0 || n > maxItems*maxCount) {
			t.Fatalf("%s: sum %d out of range", s, n)
		}
	})
}
