package trace

import (
	"bytes"
	"fmt"
	"io"
	"strings"
)

// ANSI colours used when rendering to a terminal.
const (
	red   = "\x1b[31m"
	green = "\x1b[32m"
	dim   = "\x1b[2m"
	bold  = "\x1b[1m"
	reset = "\x1b[0m"
)

// RenderOptions controls Render.
type RenderOptions struct {
	// Color enables ANSI colours (callers enable it only for terminals).
	Color bool
	// Width truncates long texts (prompts, raw outputs) to this many characters; 0 means 200.
	Width int
	// Full prints prompts and raw outputs in full.
	Full bool
}

// Render writes run as a tree: the run, then each node with its prompt, raw and parsed output,
// errors, code usage and votes; consensus samples nest under their node. Failures are marked
// with ✗ (and red when colour is on).
func Render(w io.Writer, run *Run, opt RenderOptions) error {
	p := &printer{w: w, opt: opt}
	if opt.Width <= 0 {
		p.opt.Width = 200
	}
	status := p.c(green, "✓ ok")
	if run.Error != "" {
		status = p.c(red, "✗ "+run.ErrorKind)
	}
	id := run.ID
	if id == "" {
		id = "-"
	}
	p.line(0, "%s run %s  plan %s  %s  %.1fms  calls %d  tokens %d", p.c(bold, "▶"), id, run.Plan, status,
		run.LatencyMS, run.Calls, run.Tokens.Total)
	if len(run.Inputs) > 0 {
		p.line(1, "%s %s", p.c(dim, "inputs:"), p.short(compact(run.Inputs)))
	}
	for i, n := range run.Nodes {
		p.node(1, n, i == len(run.Nodes)-1)
	}
	if run.Error != "" {
		node := ""
		if run.ErrorNode != "" {
			node = fmt.Sprintf(" (node %s)", run.ErrorNode)
		}
		p.line(1, "%s%s: %s", p.c(red, "error"), node, run.Error)
	} else {
		p.line(1, "%s %s", p.c(dim, "output:"), p.short(compact(run.Output)))
	}
	return p.err
}

type printer struct {
	w   io.Writer
	opt RenderOptions
	err error
}

func (p *printer) c(color, s string) string {
	if !p.opt.Color {
		return s
	}
	return color + s + reset
}

func (p *printer) line(depth int, format string, args ...any) {
	if p.err != nil {
		return
	}
	_, p.err = fmt.Fprintf(p.w, "%s%s\n", strings.Repeat("  ", depth), fmt.Sprintf(format, args...))
}

func (p *printer) short(s string) string {
	s = strings.ReplaceAll(s, "\n", "⏎")
	if p.opt.Full {
		return s
	}
	r := []rune(s)
	if len(r) > p.opt.Width {
		return string(r[:p.opt.Width]) + "…"
	}
	return s
}

func (p *printer) node(depth int, n *Node, _ bool) {
	mark := p.c(green, "✓")
	if n.Failed() {
		mark = p.c(red, "✗")
	}
	extra := ""
	if n.Attempts > 1 {
		extra += fmt.Sprintf("  attempts %d", n.Attempts)
	}
	if n.Cached {
		extra += "  cached"
	}
	if n.Tokens != nil {
		extra += fmt.Sprintf("  tokens %d", n.Tokens.Total)
	}
	p.line(depth, "%s %s [%s] %.1fms%s", mark, p.c(bold, n.ID), n.Substrate, n.LatencyMS, extra)
	d := depth + 1
	for i, e := range n.PriorErrors {
		p.line(d, "%s %s", p.c(dim, fmt.Sprintf("retry %d after:", i+1)), p.short(e))
	}
	for _, m := range n.Prompt {
		p.line(d, "%s %s", p.c(dim, m.Role+":"), p.short(m.Content))
	}
	if n.Raw != nil {
		p.line(d, "%s %s", p.c(dim, "raw:"), p.short(*n.Raw))
	}
	if n.ParseError != "" {
		p.line(d, "%s %s", p.c(red, "parse error:"), p.short(n.ParseError))
	}
	if n.Input != nil {
		p.line(d, "%s %s", p.c(dim, "input:"), p.short(compact(n.Input)))
	}
	if u := n.Code; u != nil {
		fuel := "unmetered"
		if u.Metered {
			fuel = fmt.Sprintf("fuel %d", u.Fuel)
		}
		p.line(d, "%s %s  %s  memory %d KiB  %.2fms  %s", p.c(dim, "code:"), u.Engine, fuel,
			u.PeakMemoryBytes/1024, u.WallMS, shortDigest(u.Digest))
		if u.Stderr != "" {
			p.line(d, "%s %s", p.c(dim, "stderr:"), p.short(u.Stderr))
		}
	}
	if c := n.Consensus; c != nil {
		var votes []string
		for _, v := range c.Votes {
			votes = append(votes, fmt.Sprintf("%s×%d", v.Key, v.Count))
		}
		winner := "none"
		if c.Winner != "" {
			winner = c.Winner
		}
		p.line(d, "%s %s over %s, n=%d: %s  winner %s", p.c(dim, "vote:"), c.Method, c.Over, c.N,
			p.short(strings.Join(votes, "  ")), p.short(winner))
		for _, s := range c.Samples {
			smark := p.c(green, "✓")
			res := s.Key
			if s.Error != "" {
				smark, res = p.c(red, "✗"), p.c(red, s.Error)
			}
			pert := ""
			if s.Perturbation.Temperature != nil {
				pert += fmt.Sprintf(" t=%g", *s.Perturbation.Temperature)
			}
			if s.Perturbation.Seed != nil {
				pert += fmt.Sprintf(" seed=%d", *s.Perturbation.Seed)
			}
			if s.Perturbation.PromptVariant != "" {
				pert += " variant=" + p.short(s.Perturbation.PromptVariant)
			}
			p.line(d, "%s sample %d%s → %s", smark, s.Index, pert, p.short(res))
			for _, m := range s.Nodes {
				p.node(d+1, m, false)
			}
		}
	} else if !n.Failed() && n.Value != nil && n.Route == nil {
		p.line(d, "%s %s", p.c(dim, "value:"), p.short(compact(n.Value)))
	}
	if r := n.Route; r != nil {
		how := ""
		if r.Defaulted {
			how = p.c(red, " (default)")
		}
		p.line(d, "%s %s = %s → branch %s%s: %s", p.c(dim, "route:"), r.On, p.short(compact(r.Classified)), p.c(bold, r.Branch), how, p.short(r.Reason))
		switch {
		case r.Misrouted:
			p.line(d, "%s branch %s was wrong; %s would have been right", p.c(red, "misrouted:"), r.Branch, strings.Join(r.Right, ", "))
		case len(r.Checked) > 0:
			p.line(d, "%s no other branch was right either (%s tried)", p.c(dim, "routing checked:"), strings.Join(r.Checked, ", "))
		}
		if r.Run != nil {
			for _, m := range r.Run.Nodes {
				p.node(d+1, m, false)
			}
		}
		if !n.Failed() && n.Value != nil {
			p.line(d, "%s %s", p.c(dim, "value:"), p.short(compact(n.Value)))
		}
	}
	if n.Failed() {
		p.line(d, "%s %s", p.c(red, "error ["+n.ErrorKind+"]:"), p.short(n.Error))
	}
}

func shortDigest(d string) string {
	if len(d) > 19 {
		return d[:19]
	}
	return d
}

func compact(v any) string {
	var b bytes.Buffer
	enc := newEncoder(&b)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	return strings.TrimSuffix(b.String(), "\n")
}

// ShowOptions selects and renders the runs of a trace file for Show.
type ShowOptions struct {
	RenderOptions
	// Failed keeps only the runs that failed.
	Failed bool
	// ID keeps only the run with this id; "" keeps every run.
	ID string
}

// Show renders each run of the trace file r that opt selects, with a blank line between runs,
// as sgde trace show prints them. It fails on a corrupt line (Read's rules).
func Show(w io.Writer, r io.Reader, opt ShowOptions) error {
	shown := 0
	return Read(r, func(run *Run) error {
		if (opt.Failed && run.Error == "") || (opt.ID != "" && run.ID != opt.ID) {
			return nil
		}
		if shown > 0 {
			if _, err := fmt.Fprintln(w); err != nil {
				return err
			}
		}
		shown++
		return Render(w, run, opt.RenderOptions)
	})
}
