package main

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestSummary feeds recorded `go test -json` events through the summary and checks what a
// person watching would see: package lines, the output of a failing test only, slow tests, and
// the closing verdict.
func TestSummary(t *testing.T) {
	const p = "github.com/sgde-project/sgde/wasm"
	events := []string{
		`{"Action":"start","Package":"` + p + `"}`,
		`{"Action":"run","Package":"` + p + `","Test":"TestQuick"}`,
		`{"Action":"output","Package":"` + p + `","Test":"TestQuick","Output":"quick noise\n"}`,
		`{"Action":"pass","Package":"` + p + `","Test":"TestQuick","Elapsed":0.01}`,
		`{"Action":"run","Package":"` + p + `","Test":"TestSlow"}`,
		`{"Action":"pass","Package":"` + p + `","Test":"TestSlow","Elapsed":12.5}`,
		`{"Action":"run","Package":"` + p + `","Test":"TestBad"}`,
		`{"Action":"run","Package":"` + p + `","Test":"TestBad/case"}`,
		`{"Action":"output","Package":"` + p + `","Test":"TestBad/case","Output":"want 2, got 3\n"}`,
		`{"Action":"fail","Package":"` + p + `","Test":"TestBad/case","Elapsed":0}`,
		`{"Action":"fail","Package":"` + p + `","Test":"TestBad","Elapsed":0.1}`,
		`{"Action":"run","Package":"` + p + `","Test":"TestLong"}`,
		`{"Action":"skip","Package":"` + p + `","Test":"TestLong","Elapsed":0}`,
		`{"Action":"fail","Package":"` + p + `","Elapsed":13.2}`,
		`not json: a panic line`,
	}
	var out bytes.Buffer
	s := newSummary(&out, 10*time.Second)
	for _, e := range events {
		s.line([]byte(e))
	}
	if code := s.close(3, nil); code != 1 {
		t.Errorf("close() = %d after a failing package, want 1", code)
	}
	got := out.String()
	for _, want := range []string{
		"TestSlow", "12.5s",
		"--- FAIL: wasm TestBad", "want 2, got 3",
		"FAIL\t" + p + "\t13.200s\t(1 skipped)",
		"not json: a panic line",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("output lacks %q:\n%s", want, got)
		}
	}
	if strings.Contains(got, "quick noise") {
		t.Errorf("output of a passing test was printed:\n%s", got)
	}
	lines := strings.Split(strings.TrimSpace(got), "\n")
	if last := lines[len(lines)-1]; !strings.HasPrefix(last, "FAIL\t1 packages, 1 failed\t") {
		t.Errorf("closing line = %q, want a go test FAIL line", last)
	}
}

// TestHeartbeat checks that silence produces a line naming the running test, and that output
// resets the clock.
func TestHeartbeat(t *testing.T) {
	var out bytes.Buffer
	s := newSummary(&out, time.Minute)
	s.line([]byte(`{"Action":"run","Package":"x/sgde/sandbox","Test":"TestHammer"}`))
	s.beat(time.Hour)
	if out.Len() != 0 {
		t.Fatalf("heartbeat before its period: %q", out.String())
	}
	s.lastOut = time.Now().Add(-2 * time.Minute)
	s.beat(time.Minute)
	if !strings.Contains(out.String(), "running sandbox TestHammer") {
		t.Fatalf("heartbeat = %q, want the running test named", out.String())
	}
}
