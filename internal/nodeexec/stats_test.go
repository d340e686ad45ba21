package nodeexec

import (
	"errors"
	"testing"
	"time"

	"github.com/sgde-project/sgde/sandbox"
)

func TestCallStatsSummary(t *testing.T) {
	ms := func(ns ...int) []time.Duration {
		var out []time.Duration
		for _, n := range ns {
			out = append(out, time.Duration(n)*time.Millisecond)
		}
		return out
	}
	hundred := make([]int, 100)
	for i := range hundred {
		hundred[i] = 100 - i // 100..1 ms, out of order
	}
	for _, tt := range []struct {
		name               string
		lat                []time.Duration
		metered            []bool
		fuel               uint64
		fails              int
		p50, p99           float64
		wantFuel           uint64
		wantFuelReported   bool
		wantMeteredSummary bool
	}{
		{name: "one call", lat: ms(7), metered: []bool{true}, fuel: 10, p50: 7000, p99: 7000, wantFuel: 10, wantFuelReported: true, wantMeteredSummary: true},
		{name: "hundred calls", lat: ms(hundred...), fuel: 5, p50: 50000, p99: 99000, wantFuel: 5, wantFuelReported: true, wantMeteredSummary: true},
		{name: "unmetered call hides fuel", lat: ms(1, 2, 3), metered: []bool{true, false, true}, fuel: 9, fails: 1, p50: 2000, p99: 3000},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var s Stats
			for i, d := range tt.lat {
				m := true
				if tt.metered != nil {
					m = tt.metered[i]
				}
				var err error
				if i < tt.fails {
					err = errors.New("x")
				}
				s.Add(d, sandbox.Usage{Fuel: tt.fuel, Metered: m}, err)
			}
			got := s.Summary().Summary
			if got.Calls != len(tt.lat) || got.Failed != tt.fails || got.LatencyP50us != tt.p50 || got.LatencyP99us != tt.p99 {
				t.Fatalf("summary %+v, want %d calls, %d failed, p50 %v, p99 %v", got, len(tt.lat), tt.fails, tt.p50, tt.p99)
			}
			if (got.Fuel != nil) != tt.wantFuelReported || (got.Fuel != nil && *got.Fuel != tt.wantFuel) || got.Metered != tt.wantMeteredSummary {
				t.Fatalf("fuel %v metered %v, want fuel %d (reported %v), metered %v", got.Fuel, got.Metered, tt.wantFuel, tt.wantFuelReported, tt.wantMeteredSummary)
			}
		})
	}
}
