package main

import (
	"crypto/sha256"
	"encoding/hex"
	"os"
	"testing"

	"github.com/sgde-project/sgde/compiler/library"
	"github.com/sgde-project/sgde/plans"
)

const planFile = "../../../../testdata/plans/gsm-hard-compiled.yaml"

// TestPlanInSync fails when the compiled example plan's inline evaluator is not what
// `go generate ./compiler/library` writes from the embedded module.
func TestPlanInSync(t *testing.T) {
	old, err := os.ReadFile(planFile)
	if err != nil {
		t.Fatal(err)
	}
	want, err := inline(old, library.ArithProgram().Source)
	if err != nil {
		t.Fatal(err)
	}
	if string(want) != string(old) {
		t.Fatal("testdata/plans/gsm-hard-compiled.yaml is out of date: run go generate ./compiler/library")
	}
	p, err := plans.Parse(old, planFile)
	if err != nil {
		t.Fatal(err)
	}
	if got := p.Node("evaluate").Code.Source; got != library.ArithProgram().Source {
		t.Error("the evaluate node's parsed source differs from the embedded module")
	}
}

// TestInline checks the rewrite on a small plan: the tail is replaced, the head kept, and a
// plan without the tail is refused.
func TestInline(t *testing.T) {
	head := "nodes:\n  - id: evaluate\n    code:\n"
	src := "package main\n\nfunc main() {}\n"
	got, err := inline([]byte(head+digestLine+"sha256:old\n      source: |\n        old\n"), src)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(src))
	want := head + digestLine + "sha256:" + hex.EncodeToString(sum[:]) + "\n" +
		"      source: |\n        package main\n\n        func main() {}\n"
	if string(got) != want {
		t.Errorf("inline =\n%s\nwant\n%s", got, want)
	}
	if _, err := inline([]byte(head), src); err == nil {
		t.Error("a plan without the digest line was accepted")
	}
}
