// Package tty is what sgde's commands draw only on a terminal: whether a writer is one (for
// colours) and the progress bar of a counted loop (eval's items). On anything else (a pipe, a
// file, a test's buffer) they draw nothing, so logs and golden outputs stay clean.
package tty

import (
	"io"
	"os"
	"time"

	"github.com/schollz/progressbar/v3"
	"golang.org/x/term"
)

// IsTerminal reports whether w is a terminal.
func IsTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// Bar is a progress bar counting to a known total, with a count and a predicted time, redrawn
// at most every 100 ms and cleared when finished. A nil *Bar draws nothing.
type Bar struct {
	bar *progressbar.ProgressBar
}

// NewBar returns a bar named desc counting to total on w, or nil when w is not a terminal.
func NewBar(w io.Writer, total int, desc string) *Bar {
	if !IsTerminal(w) {
		return nil
	}
	return newBar(w, total, desc)
}

func newBar(w io.Writer, total int, desc string) *Bar {
	return &Bar{bar: progressbar.NewOptions(total, progressbar.OptionSetWriter(w),
		progressbar.OptionSetDescription(desc), progressbar.OptionShowCount(),
		progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish(),
		progressbar.OptionSetPredictTime(true))}
}

// Set shows done of the total as done.
func (b *Bar) Set(done int) {
	if b != nil {
		_ = b.bar.Set(done)
	}
}

// Finish completes and clears the bar.
func (b *Bar) Finish() {
	if b != nil {
		_ = b.bar.Finish()
	}
}
