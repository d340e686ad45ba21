package tty

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestNotATerminal: buffers, files and pipes get no bar and no colours.
func TestNotATerminal(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "out"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	for name, out := range map[string]interface{ Write([]byte) (int, error) }{"buffer": &bytes.Buffer{}, "file": f, "pipe": w} {
		if IsTerminal(out) {
			t.Errorf("%s: IsTerminal = true", name)
		}
		b := NewBar(out, 10, "eval")
		if b != nil {
			t.Errorf("%s: NewBar drew a bar", name)
		}
		b.Set(3) // a nil bar is a no-op
		b.Finish()
	}
	if fi, _ := f.Stat(); fi.Size() != 0 {
		t.Errorf("the file got %d bytes", fi.Size())
	}
}

// TestBar: on a terminal the bar shows its name and count, and clears itself when finished.
func TestBar(t *testing.T) {
	var buf bytes.Buffer
	b := newBar(&buf, 4, "eval")
	time.Sleep(150 * time.Millisecond) // past the redraw throttle
	b.Set(3)
	if !strings.Contains(buf.String(), "eval") || !strings.Contains(buf.String(), "3/4") {
		t.Errorf("bar drew %q, want its name and 3/4", buf.String())
	}
	n := buf.Len()
	b.Finish()
	if buf.Len() == n {
		t.Error("Finish did not clear the bar")
	}
}
