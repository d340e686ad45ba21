package stats

import (
	"math"
	"math/big"
	"testing"
)

// exactP computes the same p-value with rational arithmetic, as an oracle.
func exactP(b, c int) float64 {
	n := b + c
	if n == 0 {
		return 1
	}
	lo := min(b, c)
	sum := new(big.Int)
	for i := 0; i <= lo; i++ {
		sum.Add(sum, new(big.Int).Binomial(int64(n), int64(i)))
	}
	r := new(big.Rat).SetFrac(new(big.Int).Mul(sum, big.NewInt(2)), new(big.Int).Lsh(big.NewInt(1), uint(n)))
	f, _ := r.Float64()
	return math.Min(1, f)
}

func TestMcNemarExact(t *testing.T) {
	tests := []struct {
		b, c int
		want float64
	}{
		{0, 0, 1},
		{0, 5, 0.0625},           // 2/32
		{1, 9, 22.0 / 1024},      // 2*(1+10)/1024
		{2, 8, 112.0 / 1024},     // 2*(1+10+45)/1024
		{5, 5, 1},                // capped
		{9, 1, 22.0 / 1024},      // symmetric
		{0, 20, 2.0 / (1 << 20)}, // 1.9073e-6
	}
	for _, tt := range tests {
		if got := McNemarExact(tt.b, tt.c); math.Abs(got-tt.want) > 1e-12 {
			t.Errorf("McNemarExact(%d, %d) = %v, want %v", tt.b, tt.c, got, tt.want)
		}
	}
	for _, bc := range [][2]int{{100, 150}, {3, 40}, {500, 560}, {1, 300}, {0, 1000}, {700, 700}} {
		got, want := McNemarExact(bc[0], bc[1]), exactP(bc[0], bc[1])
		if want == 0 {
			if got > 1e-300 {
				t.Errorf("McNemarExact(%d, %d) = %v, want ~0", bc[0], bc[1], got)
			}
			continue
		}
		if math.Abs(got-want)/want > 1e-9 {
			t.Errorf("McNemarExact(%d, %d) = %v, oracle %v", bc[0], bc[1], got, want)
		}
	}
	if !math.IsNaN(McNemarExact(-1, 2)) {
		t.Error("negative count must give NaN")
	}
}

func TestPair(t *testing.T) {
	p, err := Pair([]bool{true, true, false, false, true}, []bool{true, false, true, false, false})
	if err != nil {
		t.Fatal(err)
	}
	want := Paired{BothRight: 1, BothWrong: 1, OnlyA: 2, OnlyB: 1}
	if p != want {
		t.Fatalf("Pair = %+v, want %+v", p, want)
	}
	if _, err := Pair([]bool{true}, nil); err == nil {
		t.Fatal("length mismatch accepted")
	}
}
