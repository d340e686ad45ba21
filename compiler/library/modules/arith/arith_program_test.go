package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"math/big"
	"os"
	"strings"
	"testing"
)

// TestCases runs every case of testdata/cases.jsonl natively, through the guest SDK's native
// build: the interpreter's answers and refusals, without a sandbox in the loop (the sandbox and
// engine tests run the same file as WebAssembly).
func TestCases(t *testing.T) {
	f, err := os.Open("testdata/cases.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	n := 0
	for sc.Scan() {
		n++
		var c struct {
			Name    string          `json:"name"`
			Program string          `json:"program"`
			Repeat  int             `json:"repeat"`
			Input   json.RawMessage `json:"input"`
			Answer  json.Number     `json:"answer"`
			Error   string          `json:"error"`
			Type    string          `json:"python_type"`
		}
		dec := json.NewDecoder(bytes.NewReader(sc.Bytes()))
		dec.UseNumber()
		if err := dec.Decode(&c); err != nil {
			t.Fatalf("line %d: %v", n, err)
		}
		t.Run(c.Name, func(t *testing.T) {
			in := map[string]any{"program": strings.Repeat(c.Program, max(c.Repeat, 1))}
			if c.Input != nil {
				in = nil
				dec := json.NewDecoder(bytes.NewReader(c.Input))
				dec.UseNumber()
				if err := dec.Decode(&in); err != nil {
					t.Fatal(err)
				}
			}
			out, err := solve(in)
			if c.Error != "" {
				if err == nil || !strings.Contains(err.Error(), c.Error) {
					t.Fatalf("err = %v, want one containing %q (output %v)", err, c.Error, out)
				}
				return
			}
			if err != nil {
				t.Fatalf("err = %v, want answer %s", err, c.Answer)
			}
			got, ok := new(big.Rat).SetString(string(out["answer"].(number)))
			want, ok2 := new(big.Rat).SetString(string(c.Answer))
			if !ok || !ok2 {
				t.Fatalf("answer %v, want %s", out["answer"], c.Answer)
			}
			// Ints are exact; the expected floats are CPython's, rounded at every step, where
			// the interpreter is exact: they agree to far better than the GSM-Hard metric.
			if c.Type != "float" && got.Cmp(want) != 0 || !closeRat(got, want, 1e-12) {
				t.Fatalf("answer %v, want %s (%s)", out["answer"], c.Answer, c.Type)
			}
		})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	if n < 200 {
		t.Fatalf("read %d cases, want the whole file", n)
	}
}

// closeRat reports |got - want| <= rel * max(|want|, 1).
func closeRat(got, want *big.Rat, rel float64) bool {
	d := new(big.Rat).Sub(got, want)
	d.Abs(d)
	scale := new(big.Rat).Abs(want)
	if scale.Cmp(big.NewRat(1, 1)) < 0 {
		scale = big.NewRat(1, 1)
	}
	tol := new(big.Rat).SetFloat64(rel)
	return d.Cmp(tol.Mul(tol, scale)) <= 0
}
