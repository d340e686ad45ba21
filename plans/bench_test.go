package plans

import (
	"os"
	"strings"
	"testing"
)

// BenchmarkParseCompiledPlan parses and validates the compiled GSM-Hard example (about 3,300
// lines, nearly all inline Go source): the cost of loading a plan before a run.
func BenchmarkParseCompiledPlan(b *testing.B) {
	data, err := os.ReadFile("../testdata/plans/gsm-hard-compiled.yaml")
	if err != nil {
		b.Skip(err)
	}
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if _, err := Parse(data, "../testdata/plans/gsm-hard-compiled.yaml"); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkDigest computes the content digest of the compiled example (validation included).
func BenchmarkDigest(b *testing.B) {
	p, err := Load("../testdata/plans/gsm-hard-compiled.yaml")
	if err != nil {
		b.Skip(err)
	}
	for b.Loop() {
		if _, err := Digest(p); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkParseNumber parses a typical chain-of-thought reply of about 1 KiB, which the
// runtime does once per student call.
func BenchmarkParseNumber(b *testing.B) {
	reply := "<think>" + strings.Repeat("Let me add 12 and 30. ", 20) + "</think>" +
		strings.Repeat("First, 1,234 eggs minus 34 is 1,200. ", 20) + "The answer is **$1,200**."
	b.SetBytes(int64(len(reply)))
	for b.Loop() {
		if _, err := ParseOutput(Parser{Type: ParserNumber}, reply); err != nil {
			b.Fatal(err)
		}
	}
}
