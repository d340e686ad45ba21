package report

import (
	"fmt"
	"io"
	"time"

	"github.com/schollz/progressbar/v3"

	"github.com/sgde-project/sgde/compiler"
)

// Progress shows a compile on a terminal or a log: a spinner with the current phase on a
// terminal, one line per decision otherwise.
type Progress struct {
	w     io.Writer
	bar   *progressbar.ProgressBar
	quiet bool
}

// NewProgress shows progress on w (a terminal when terminal is set); quiet shows nothing.
func NewProgress(w io.Writer, quiet, terminal bool) *Progress {
	p := &Progress{w: w, quiet: quiet}
	if !quiet && terminal {
		p.bar = progressbar.NewOptions(-1, progressbar.OptionSetWriter(w), progressbar.OptionSetDescription("compile: evaluating the initial plan"),
			progressbar.OptionShowCount(), progressbar.OptionThrottle(100*time.Millisecond), progressbar.OptionClearOnFinish(),
			progressbar.OptionSpinnerType(14), progressbar.OptionShowIts(), progressbar.OptionSetItsString("runs"))
	}
	return p
}

// Tick counts one plan run.
func (p *Progress) Tick() {
	if p.bar != nil {
		_ = p.bar.Add(1)
	}
}

// Phase names what the compile is doing.
func (p *Progress) Phase(s string) {
	if p.bar != nil {
		p.bar.Describe("compile: " + s)
	} else if !p.quiet {
		fmt.Fprintf(p.w, "compile: %s\n", s)
	}
}

// Event shows a compile log event.
func (p *Progress) Event(ev compiler.Event) {
	line := ev.Line()
	if line == "" {
		return
	}
	if p.bar != nil {
		desc := line
		if len(desc) > 100 {
			desc = desc[:100] + "…"
		}
		p.bar.Describe(desc)
		if ev.Decision() {
			// Keep the decision on screen above the spinner.
			_ = p.bar.Clear()
			fmt.Fprintln(p.w, line)
		}
		return
	}
	if !p.quiet {
		fmt.Fprintln(p.w, line)
	}
}

// Done removes the spinner.
func (p *Progress) Done() {
	if p.bar != nil {
		_ = p.bar.Finish()
	}
}
