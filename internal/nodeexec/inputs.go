package nodeexec

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/sgde-project/sgde/sandbox"
)

// ReadInputs returns the call inputs: the input object, or every non-blank line of file. Every
// input must be a JSON object. Every error it returns is the caller's mistake (a usage error),
// and names the flag (--input or --inputs) it came from.
func ReadInputs(input, file string) ([][]byte, error) {
	switch {
	case input != "" && file != "":
		return nil, errors.New("give either --input or --inputs, not both")
	case input == "" && file == "":
		return nil, errors.New("exec needs --input JSON or --inputs FILE.jsonl")
	case input != "":
		if err := jsonObjectErr([]byte(input)); err != nil {
			return nil, fmt.Errorf("--input: %w", err)
		}
		return [][]byte{[]byte(input)}, nil
	}
	f, err := os.Open(file)
	if err != nil {
		return nil, fmt.Errorf("--inputs: %w", err)
	}
	defer f.Close()
	var out [][]byte
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 64<<20)
	for n := 1; sc.Scan(); n++ {
		line := bytes.TrimSpace(sc.Bytes())
		if len(line) == 0 {
			continue
		}
		if err := jsonObjectErr(line); err != nil {
			return nil, fmt.Errorf("--inputs %s:%d: %w", file, n, err)
		}
		out = append(out, bytes.Clone(line))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("--inputs %s: %w", file, err)
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("--inputs %s has no inputs", file)
	}
	return out, nil
}

// jsonObjectErr says why b is not a JSON object: the parse error (with its offset) when it is
// not JSON at all, or what kind of value it is.
func jsonObjectErr(b []byte) error {
	var v any
	if err := json.Unmarshal(b, &v); err != nil {
		var syn *json.SyntaxError
		if errors.As(err, &syn) {
			return fmt.Errorf("not valid JSON: %v (at byte %d)", err, syn.Offset)
		}
		return fmt.Errorf("not valid JSON: %v", err)
	}
	if _, ok := v.(map[string]any); !ok {
		return fmt.Errorf("not a JSON object (got %s)", jsonKind(v))
	}
	return nil
}

func jsonKind(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case []any:
		return "an array"
	case string:
		return "a string"
	case bool:
		return "a boolean"
	}
	return "a number"
}

// ReadModule reads a compiled module from path. It reads one byte past the sandbox's module
// cap, so that an oversized module is reported by the loader, not silently truncated.
func ReadModule(path string) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(io.LimitReader(f, sandbox.DefaultMaxModuleBytes+1))
}
