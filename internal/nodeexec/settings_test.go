package nodeexec

import (
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/plans"
)

func TestSettingsCheck(t *testing.T) {
	ok := Settings{MemoryMiB: 64, Timeout: time.Second, MaxOutputBytes: 1024, Engine: plans.EngineWazero, Meter: "on", Repeat: 1}
	with := func(f func(*Settings)) Settings { s := ok; f(&s); return s }
	tests := []struct {
		name    string
		s       Settings
		meter   bool
		wantErr string
	}{
		{"defaults", ok, true, ""},
		{"meter empty is on", with(func(s *Settings) { s.Meter = "" }), true, ""},
		{"meter off on wazero", with(func(s *Settings) { s.Meter = "off" }), false, ""},
		{"preinit", with(func(s *Settings) { s.Preinit = true }), true, ""},
		{"fuel at the ceiling", with(func(s *Settings) { s.Fuel = plans.MaxFuel }), true, ""},
		{"no memory", with(func(s *Settings) { s.MemoryMiB = 0 }), false, "--memory-mib"},
		{"too much memory", with(func(s *Settings) { s.MemoryMiB = plans.MaxMemoryMiB + 1 }), false, "--memory-mib"},
		{"no timeout", with(func(s *Settings) { s.Timeout = 0 }), false, "--timeout"},
		{"no output", with(func(s *Settings) { s.MaxOutputBytes = 0 }), false, "--max-output-bytes"},
		{"too much output", with(func(s *Settings) { s.MaxOutputBytes = plans.MaxOutputBytesMax + 1 }), false, "--max-output-bytes"},
		{"meter word", with(func(s *Settings) { s.Meter = "maybe" }), false, "--meter must be on or off"},
		{"meter off on wasmtime", with(func(s *Settings) { s.Meter, s.Engine = "off", plans.EngineWasmtime }), false, "wazero engine only"},
		{"no repeat", with(func(s *Settings) { s.Repeat = 0 }), false, "--repeat"},
		{"too many repeats", with(func(s *Settings) { s.Repeat = MaxRepeat + 1 }), false, "--repeat must be between 1 and 10000000"},
		{"preinit unmetered", with(func(s *Settings) { s.Preinit, s.Meter = true, "off" }), false, "--preinit"},
		{"preinit on wasmtime", with(func(s *Settings) { s.Preinit, s.Engine = true, plans.EngineWasmtime }), false, "--preinit"},
		{"fuel above the ceiling", with(func(s *Settings) { s.Fuel = plans.MaxFuel + 1 }), false, "--fuel must be at most"},
		{"fuel unmetered", with(func(s *Settings) { s.Fuel, s.Meter = 5, "off" }), false, "--fuel needs metering"},
	}
	for _, tt := range tests {
		lim, meter, repeat, err := tt.s.Check()
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("%s: Check() error %v, want %q", tt.name, err, tt.wantErr)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s: Check() error %v", tt.name, err)
			continue
		}
		if meter != tt.meter || repeat != int(tt.s.Repeat) || lim.MemoryMiB != uint32(tt.s.MemoryMiB) ||
			lim.Timeout != tt.s.Timeout || lim.MaxOutputBytes != tt.s.MaxOutputBytes || lim.Fuel != tt.s.Fuel {
			t.Errorf("%s: Check() = %+v, meter %v, repeat %d", tt.name, lim, meter, repeat)
		}
	}
}
