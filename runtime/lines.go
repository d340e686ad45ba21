package runtime

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/sgde-project/sgde/runtime/trace"
)

// DecodeInputs reads one JSON object of plan inputs, numbers kept exact (json.Number).
func DecodeInputs(b []byte) (map[string]any, error) {
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var in map[string]any
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("not a JSON object: %v", err)
	}
	if in == nil {
		return nil, errors.New("not a JSON object: null")
	}
	if dec.More() {
		return nil, errors.New("trailing data after the JSON object")
	}
	return in, nil
}

// RunLines runs the program on each line of r (a JSON object of inputs per line) and writes one
// JSON result per line to w: {"line", "output"} or {"line", "error", "error_kind"}. A failing
// line is reported in its result and the others still run; failed counts them. traces, when
// set, receives every run's trace with the line number as its id. err is a read, write or
// trace failure, or ctx's error.
func (pg *Program) RunLines(ctx context.Context, r io.Reader, w io.Writer, traces *trace.Writer) (failed int, err error) {
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), 16<<20)
	out := json.NewEncoder(w)
	out.SetEscapeHTML(false)
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		if err := ctx.Err(); err != nil {
			return failed, err
		}
		type result struct {
			Line      int    `json:"line"`
			Output    any    `json:"output,omitempty"`
			Error     string `json:"error,omitempty"`
			ErrorKind string `json:"error_kind,omitempty"`
		}
		res := result{Line: line}
		in, err := DecodeInputs(sc.Bytes())
		if err != nil {
			res.Error, res.ErrorKind = err.Error(), KindInput
		} else {
			rr, err := pg.Run(ctx, in)
			if traces != nil {
				rr.Trace.ID = fmt.Sprint(line)
				if werr := traces.Write(rr.Trace); werr != nil {
					return failed, werr
				}
			}
			if err != nil {
				res.Error, res.ErrorKind = err.Error(), KindOf(err)
			} else {
				res.Output = rr.Output
			}
		}
		if res.Error != "" {
			failed++
		}
		if err := out.Encode(res); err != nil {
			return failed, err
		}
	}
	return failed, sc.Err()
}

// OneOptions say where RunOne sends a run's trace.
type OneOptions struct {
	// Traces, when set, receives the run's trace, failed runs included.
	Traces *trace.Writer
	// Tree, when set, gets the run's trace tree (trace.Render) before the output is written.
	Tree io.Writer
	// Color colours the tree (for terminals).
	Color bool
}

// RunOne runs the program on inputs and, when it succeeds, writes its output to w as sgde run
// prints it: a string as it is, anything else as one JSON line. err is the run's error (a
// *NodeError), else a failure to write the trace or the output.
func (pg *Program) RunOne(ctx context.Context, inputs map[string]any, w io.Writer, o OneOptions) error {
	res, err := pg.Run(ctx, inputs)
	if o.Traces != nil {
		if werr := o.Traces.Write(res.Trace); werr != nil && err == nil {
			err = werr
		}
	}
	if o.Tree != nil {
		_ = trace.Render(o.Tree, res.Trace, trace.RenderOptions{Color: o.Color})
	}
	if err != nil {
		return err
	}
	if s, ok := res.Output.(string); ok {
		_, err := fmt.Fprintln(w, s)
		return err
	}
	b, err := json.Marshal(res.Output)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}
