package runtime

import (
	"encoding/json"
	"testing"

	"github.com/sgde-project/sgde/plans"
)

func TestNormalize(t *testing.T) {
	tests := []struct {
		v         any
		mode      string
		precision int
		want      string
		wantErr   bool
	}{
		{json.Number("18"), "number", 0, "18", false},
		{json.Number("18.0"), "number", 0, "18", false},
		{json.Number("1.50"), "", 0, "1.5", false},
		{float64(0.1), "number", 3, "0.1", false},
		{json.Number("123456789012345678901234567890"), "number", 0, "123456789012345678901234567890", false},
		{json.Number("3431580.4"), "number", 5, "3431600", false},
		{json.Number("-2.345"), "number", 3, "-2.35", false}, // exact decimal rounding, half away from zero
		{"1,234", "number", 0, "1234", false},
		{"forty", "number", 0, "", true},
		{"  Hello   World ", "text", 0, "hello world", false},
		{map[string]any{"b": 1, "a": "x"}, "exact", 0, `{"a":"x","b":1}`, false},
		{"x", "", 0, `"x"`, false},
		{json.Number("1e999999"), "number", 0, "", true},
	}
	for _, tt := range tests {
		got, err := normalize(tt.v, tt.mode, tt.precision)
		if (err != nil) != tt.wantErr || got != tt.want {
			t.Errorf("normalize(%v, %q, %d) = %q, %v; want %q (error %v)", tt.v, tt.mode, tt.precision, got, err, tt.want, tt.wantErr)
		}
	}
}

func ballots(keys ...string) []ballot {
	bs := make([]ballot, len(keys))
	for i, k := range keys {
		if k == "!" {
			continue // a failed sample
		}
		bs[i] = ballot{value: k, key: k, ok: true}
	}
	return bs
}

func TestVote(t *testing.T) {
	tests := []struct {
		name    string
		vote    plans.Vote
		keys    []string
		want    int // winning sample index, -1 for an error
		wantTop string
	}{
		{"majority", plans.Vote{Method: plans.VoteMajority}, []string{"1", "2", "1", "1", "3"}, 0, "1"},
		{"majority counts failed samples", plans.Vote{Method: plans.VoteMajority}, []string{"1", "!", "1", "!", "2"}, -1, "1"},
		{"majority exactly half is not enough", plans.Vote{Method: plans.VoteMajority}, []string{"1", "1", "2", "2"}, -1, "1"},
		{"plurality", plans.Vote{Method: plans.VotePlurality}, []string{"3", "2", "2", "1", "!"}, 1, "2"},
		{"plurality tie first", plans.Vote{Method: plans.VotePlurality, TieBreak: plans.TieFirst}, []string{"5", "2", "2", "5"}, 0, "5"},
		{"plurality tie smallest numeric", plans.Vote{Method: plans.VotePlurality, TieBreak: plans.TieSmallest}, []string{"10", "9", "9", "10"}, 1, "10"},
		{"plurality tie largest", plans.Vote{Method: plans.VotePlurality, TieBreak: plans.TieLargest}, []string{"9", "10", "10", "9"}, 1, "9"},
		{"median odd", plans.Vote{Method: plans.VoteMedian}, []string{"5", "1", "9"}, 0, "5"},
		{"median even takes lower middle", plans.Vote{Method: plans.VoteMedian}, []string{"4", "1", "9", "7"}, 0, "4"},
		{"median skips failures", plans.Vote{Method: plans.VoteMedian}, []string{"!", "3", "!", "8", "1"}, 1, "3"},
		{"first valid", plans.Vote{Method: plans.VoteFirstValid}, []string{"!", "!", "7", "8"}, 2, "7"},
		{"nothing valid", plans.Vote{Method: plans.VotePlurality}, []string{"!", "!"}, -1, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, dist, err := vote(tt.vote, ballots(tt.keys...))
			if (err != nil) != (tt.want < 0) || got != tt.want {
				t.Fatalf("vote = %d, %v; want %d", got, err, tt.want)
			}
			if tt.wantTop != "" && (len(dist) == 0 || dist[0].Key != tt.wantTop) {
				t.Errorf("distribution %v, want %q on top", dist, tt.wantTop)
			}
			total := 0
			for _, d := range dist {
				total += d.Count
			}
			valid := 0
			for _, k := range tt.keys {
				if k != "!" {
					valid++
				}
			}
			if total != valid {
				t.Errorf("distribution counts %d votes, want %d", total, valid)
			}
		})
	}
}

func TestVoteDeterministic(t *testing.T) {
	keys := []string{"a", "b", "c", "b", "c", "a"}
	first, _, _ := vote(plans.Vote{Method: plans.VotePlurality}, ballots(keys...))
	for range 100 {
		if got, _, _ := vote(plans.Vote{Method: plans.VotePlurality}, ballots(keys...)); got != first {
			t.Fatal("vote is not deterministic")
		}
	}
}

func TestRoundRatCases(t *testing.T) {
	tests := []struct {
		in   string
		p    int
		want string
	}{
		{"0.0016791648", 3, "0.00168"}, {"999.96", 4, "1000"}, {"-0.5", 1, "-0.5"}, {"0.95", 1, "1"},
		{"123456789", 2, "120000000"}, {"1e-30", 2, "0.000000000000000000000000000001"},
	}
	for _, tt := range tests {
		r, _ := ratFromString(tt.in)
		if got := roundRat(r, tt.p); got != tt.want {
			t.Errorf("roundRat(%s, %d) = %s, want %s", tt.in, tt.p, got, tt.want)
		}
	}
}

// FuzzNormalize: normalisation never panics, is deterministic, and number keys parse back to
// the same key (so votes compare what they claim to).
func FuzzNormalize(f *testing.F) {
	for _, s := range []string{"18", "18.0", "-2.345", "1e400", "7/2", "0.0016791648", " 1,234 ", "NaN", "1e-30"} {
		f.Add(s, 3)
	}
	f.Fuzz(func(t *testing.T, s string, precision int) {
		precision %= 30
		for _, mode := range []string{"", "number", "text", "exact"} {
			k1, err1 := normalize(s, mode, precision)
			k2, err2 := normalize(s, mode, precision)
			if k1 != k2 || (err1 == nil) != (err2 == nil) {
				t.Fatalf("normalize(%q, %q) not deterministic", s, mode)
			}
		}
		if k, err := normalize(json.Number(s), "number", precision); err == nil {
			again, err := normalize(json.Number(k), "number", precision)
			if r, ok := ratFromString(k); ok && (err != nil || again != k) {
				t.Fatalf("key %q of %q renormalises to %q (%v) [%v]", k, s, again, err, r)
			}
		}
	})
}
