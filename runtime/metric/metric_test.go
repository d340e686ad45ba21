package metric

import (
	"encoding/json"
	"math"
	"testing"
)

func TestNumeric(t *testing.T) {
	m := Numeric{RelTol: DefaultRelTol}
	tests := []struct {
		pred, label any
		want        bool
	}{
		{json.Number("3431580"), json.Number("3431580.0"), true},
		{json.Number("3431581"), json.Number("3431580.0"), false},              // off by one on a big answer
		{json.Number("5.158232655378219e-07"), json.Number("5.158e-07"), true}, // label rounded to 10 decimals
		{json.Number("5.159e-07"), json.Number("5.158e-07"), false},
		{json.Number("0.0016791647834367186"), json.Number("0.0016791648"), true},
		{json.Number("14053029.67"), json.Number("14053029.666666666"), true},
		{json.Number("0.5"), json.Number("0.54"), false}, // short decimals are exact
		{"$1,234.00", json.Number("1234"), true},
		{"twelve", json.Number("12"), false},
		{nil, json.Number("1"), false},
		{float64(18), json.Number("18"), true},
		{json.Number("123456789012345678901"), json.Number("123456789012345678901"), true},
		{json.Number("123456789012345678902"), json.Number("123456789012345678901"), true}, // within 1e-9
		{json.Number("1e999999"), json.Number("1"), false},
		{json.Number("-9867630"), json.Number("-9867630.0"), true},
	}
	for _, tt := range tests {
		if got := m.Score(tt.pred, tt.label); got != tt.want {
			t.Errorf("Score(%v, %v) = %v, want %v", tt.pred, tt.label, got, tt.want)
		}
	}
}

func TestExact(t *testing.T) {
	tests := []struct {
		pred, label any
		want        bool
	}{
		{json.Number("18"), json.Number("18.0"), true},
		{" yes ", "yes", true},
		{"Yes", "yes", false},
		{json.Number("18"), "18", true},
		{json.Number("18.1"), json.Number("18"), false},
	}
	for _, tt := range tests {
		if got := (Exact{}).Score(tt.pred, tt.label); got != tt.want {
			t.Errorf("Score(%v, %v) = %v, want %v", tt.pred, tt.label, got, tt.want)
		}
	}
}

func TestWilson(t *testing.T) {
	tests := []struct {
		k, n   int
		lo, hi float64
	}{
		{0, 0, 0, 1},
		{50, 100, 0.4038, 0.5962},
		{0, 10, 0, 0.2775},
		{10, 10, 0.7225, 1},
		{81, 263, 0.2553, 0.3662},
	}
	for _, tt := range tests {
		lo, hi := Wilson(tt.k, tt.n, 1.96)
		if math.Abs(lo-tt.lo) > 1e-4 || math.Abs(hi-tt.hi) > 1e-4 {
			t.Errorf("Wilson(%d, %d) = [%.4f, %.4f], want [%.4f, %.4f]", tt.k, tt.n, lo, hi, tt.lo, tt.hi)
		}
	}
}

func FuzzNumeric(f *testing.F) {
	for _, s := range []string{"1", "5.158e-07", "$1,234", "1e400", "-0.0", "nan"} {
		f.Add(s, s)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		m := Numeric{RelTol: DefaultRelTol}
		got := m.Score(a, b)
		if got != m.Score(a, b) {
			t.Fatal("not deterministic")
		}
		if _, _, ok := number(b); ok && !m.Score(b, b) {
			t.Fatalf("%q does not match itself", b)
		}
	})
}
