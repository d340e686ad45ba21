package simulator

import (
	"hash/fnv"
	"math/rand/v2"
)

// Draw streams. Each random decision comes from a PCG generator keyed by a hash of everything
// that may legitimately change it, and of nothing else: no state survives a request, so results
// depend neither on request order nor on concurrency.
const (
	streamQuestion uint64 = iota + 1 // per (question, mode): the systematic part of the error
	streamSample                     // per (prompt, sampling parameters, choice): everything else
	streamUnknown                    // per question text for unknown questions
)

// splitmix64 is a fast, well-mixed 64-bit finaliser.
func splitmix64(x uint64) uint64 {
	x += 0x9e3779b97f4a7c15
	x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9
	x = (x ^ (x >> 27)) * 0x94d049bb133111eb
	return x ^ (x >> 31)
}

// mix folds values into one key; order matters.
func mix(vals ...uint64) uint64 {
	h := uint64(0x243f6a8885a308d3)
	for _, v := range vals {
		h = splitmix64(h ^ v)
	}
	return h
}

// hashString is FNV-1a over s, stable across processes and platforms.
func hashString(s string) uint64 {
	h := fnv.New64a()
	h.Write([]byte(s))
	return h.Sum64()
}

// newRand returns a generator keyed by vals.
func newRand(vals ...uint64) *rand.Rand {
	k := mix(vals...)
	return rand.New(rand.NewPCG(k, splitmix64(k^0x5851f42d4c957f2d)))
}

// pick draws a kind index from w.
func (w weights) pick(r *rand.Rand) int {
	u := r.Float64() * w.total
	for i, v := range w.w {
		if u < v {
			return i
		}
		u -= v
	}
	for i := len(w.w) - 1; i >= 0; i-- { // rounding: the last kind with weight
		if w.w[i] > 0 {
			return i
		}
	}
	return 0
}

// pickAmong draws among the kinds allowed by ok, proportionally to w; -1 if none is allowed.
func (w weights) pickAmong(r *rand.Rand, ok func(kind string) bool) int {
	total := 0.0
	for i, v := range w.w {
		if v > 0 && ok(w.kinds[i]) {
			total += v
		}
	}
	if total == 0 {
		return -1
	}
	u := r.Float64() * total
	last := -1
	for i, v := range w.w {
		if v > 0 && ok(w.kinds[i]) {
			last = i
			if u < v {
				return i
			}
			u -= v
		}
	}
	return last
}
