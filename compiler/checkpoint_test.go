package compiler

import (
	"os"
	"path/filepath"
	"testing"
)

// TestLogResumeDropsLostIteration: a resume keeps the events up to the checkpointed iteration
// and drops later ones and a line torn by the crash.
func TestLogResumeDropsLostIteration(t *testing.T) {
	dir := t.TempDir()
	lw, err := openLog(dir, -1, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []Event{{Iteration: 0, Kind: EventStart}, {Iteration: 1, Kind: EventCritique}, {Iteration: 1, Kind: EventRound},
		{Iteration: 2, Kind: EventCritique}} {
		if err := lw.write(ev); err != nil {
			t.Fatal(err)
		}
	}
	if err := lw.close(); err != nil {
		t.Fatal(err)
	}
	f, _ := os.OpenFile(filepath.Join(dir, FileLog), os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"iteration": 2, "kind": "cand`) // torn by kill -9
	f.Close()

	lw, err = openLog(dir, 1, true)
	if err != nil {
		t.Fatal(err)
	}
	if err := lw.write(Event{Iteration: 2, Kind: EventStart}); err != nil {
		t.Fatal(err)
	}
	lw.close()
	evs, err := ReadLog(dir)
	if err != nil {
		t.Fatal(err)
	}
	var kinds []string
	for _, ev := range evs {
		kinds = append(kinds, ev.Kind)
	}
	if len(evs) != 4 || evs[2].Kind != EventRound || evs[3].Iteration != 2 || evs[3].Kind != EventStart {
		t.Fatalf("log after resume: %v", kinds)
	}
}

func TestStateRoundTripAndCorruption(t *testing.T) {
	dir := t.TempDir()
	st := &State{Version: stateVersion, Iteration: 3, Tried: []string{"a"}, Curve: []CurvePoint{{Iteration: 0, HeldoutRisk: 0.5}}}
	if err := saveState(dir, st); err != nil {
		t.Fatal(err)
	}
	got, err := LoadState(dir)
	if err != nil || got.Iteration != 3 || len(got.Curve) != 1 {
		t.Fatalf("LoadState = %+v, %v", got, err)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("temporary files left behind: %v", entries)
	}
	os.WriteFile(filepath.Join(dir, FileState), []byte(`{"version": 1, "iter`), 0o644)
	if _, err := LoadState(dir); err == nil {
		t.Error("corrupt checkpoint accepted")
	}
	os.WriteFile(filepath.Join(dir, FileState), []byte(`{"version": 99}`), 0o644)
	if _, err := LoadState(dir); err == nil {
		t.Error("future checkpoint version accepted")
	}
}
