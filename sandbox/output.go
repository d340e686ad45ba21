package sandbox

import (
	"bytes"
	"encoding/json"
	"fmt"
	"unicode/utf8"
)

// callOutput is the host side of the guest's output_write import: it accepts exactly one
// envelope of at most max bytes. Nothing else the guest does (stdout, stderr, exit codes) can
// produce a node's output.
type callOutput struct {
	max     int
	written bool
	data    []byte
	err     error // ErrOutputTooLarge or ErrBadOutput, set on the first violation
}

// write records one output_write call; the caller has already bounds-checked data.
func (o *callOutput) write(n uint64, read func() ([]byte, bool)) {
	switch {
	case o.err != nil:
	case o.written:
		o.err = fmt.Errorf("%w: node delivered a second result (guest.Run called more than once)", ErrBadOutput)
	case n > uint64(o.max):
		o.err = fmt.Errorf("%w: result is %d bytes, the limit is %d", ErrOutputTooLarge, n, o.max)
	default:
		b, ok := read()
		if !ok {
			o.err = fmt.Errorf("%w: output_write range is outside the guest's memory", ErrBadOutput)
			return
		}
		o.written = true
		o.data = bytes.Clone(b)
	}
}

// envelope is the one message the guest SDK delivers per call.
type envelope struct {
	Output json.RawMessage `json:"output"`
	Error  string          `json:"error"`
	Kind   string          `json:"kind"`
}

// result turns the delivered envelope into the node's output or a typed error.
func (o *callOutput) result() (json.RawMessage, error) {
	if o.err != nil {
		return nil, o.err
	}
	if !o.written {
		return nil, fmt.Errorf("%w: node did not call guest.Run", ErrBadOutput)
	}
	var env envelope
	dec := json.NewDecoder(bytes.NewReader(o.data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&env); err != nil {
		return nil, fmt.Errorf("%w: result is not a valid envelope: %s", ErrBadOutput, truncateMessage(err.Error()))
	}
	if dec.More() {
		return nil, fmt.Errorf("%w: result has data after the envelope", ErrBadOutput)
	}
	if env.Kind != "" || env.Error != "" {
		msg := truncateMessage(env.Error)
		switch env.Kind {
		case "bad_output":
			return nil, fmt.Errorf("%w: %s", ErrBadOutput, msg)
		case "guest_error", "panic", "bad_input":
			if env.Kind == "bad_input" {
				msg = "bad input: " + msg
			}
			return nil, fmt.Errorf("%w: %s", ErrGuest, msg)
		default:
			return nil, fmt.Errorf("%w: unknown failure kind %q: %s", ErrBadOutput, truncateMessage(env.Kind), msg)
		}
	}
	out := bytes.TrimSpace(env.Output)
	if len(out) == 0 || out[0] != '{' {
		return nil, fmt.Errorf("%w: output is not a JSON object", ErrBadOutput)
	}
	return json.RawMessage(out), nil
}

// cappedWriter keeps the first max bytes written to it and counts the rest, so a guest that
// prints without end costs the host a bounded amount of memory.
type cappedWriter struct {
	max     int
	buf     []byte
	dropped int64
}

func (w *cappedWriter) Write(p []byte) (int, error) {
	room := w.max - len(w.buf)
	if room >= len(p) {
		w.buf = append(w.buf, p...)
	} else {
		if room > 0 {
			w.buf = append(w.buf, p[:room]...)
		}
		w.dropped += int64(len(p) - max(room, 0))
	}
	return len(p), nil
}

// Bytes returns what was kept, with a marker when something was dropped.
func (w *cappedWriter) Bytes() []byte {
	if w.dropped == 0 {
		return w.buf
	}
	return append(bytes.Clone(w.buf), fmt.Sprintf("\n[sgde: %d bytes truncated]\n", w.dropped)...)
}

// truncateMessage bounds guest-controlled text that ends up in an error message, cutting at a
// rune boundary.
func truncateMessage(s string) string {
	if len(s) <= maxMessageBytes {
		return s
	}
	cut := maxMessageBytes
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return fmt.Sprintf("%s... (%d bytes truncated)", s[:cut], len(s)-cut)
}
