// Command genplan writes the evaluate node of testdata/plans/gsm-hard-compiled.yaml from the
// catalogue's embedded arith_program (compiler/library/modules/arith): its inline source and
// the digest that pins it. `go generate ./compiler/library` runs it; TestPlanInSync fails when
// the plan and the module have drifted apart.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/sgde-project/sgde/compiler/library"
	"github.com/sgde-project/sgde/internal/atomicfile"
)

// digestLine starts the evaluate node's last two keys: everything from it on is generated.
const digestLine = "      digest: "

func main() {
	plan := flag.String("plan", "", "the compiled plan to update in place")
	flag.Parse()
	if err := run(*plan); err != nil {
		fmt.Fprintln(os.Stderr, "genplan:", err)
		os.Exit(1)
	}
}

func run(path string) error {
	if path == "" {
		return errors.New("-plan is required")
	}
	old, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	b, err := inline(old, library.ArithProgram().Source)
	if err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	if string(b) == string(old) {
		return nil
	}
	return atomicfile.Write(path, b, 0o644)
}

// inline returns plan with everything from the evaluate node's digest on replaced by src's
// digest and src as a YAML block scalar. The plan must end with those two keys.
func inline(plan []byte, src string) ([]byte, error) {
	head, _, ok := strings.Cut(string(plan), digestLine)
	if !ok {
		return nil, errors.New("the plan must end with the evaluate node's digest and source")
	}
	sum := sha256.Sum256([]byte(src))
	var b strings.Builder
	b.WriteString(head)
	b.WriteString(digestLine + "sha256:" + hex.EncodeToString(sum[:]) + "\n      source: |\n")
	for _, line := range strings.SplitAfter(src, "\n") {
		if line != "\n" && line != "" {
			b.WriteString("        ")
		}
		b.WriteString(line)
	}
	return []byte(b.String()), nil
}
