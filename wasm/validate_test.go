package wasm

import (
	"errors"
	"go/parser"
	"go/token"
	"strconv"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/plans"
)

const okNode = `package main

import (
	"math/big"
	"strings"

	"github.com/sgde-project/sgde/wasm/guest"
)

// main is a code node; this comment mentions //go:linkname only in prose.
func main() {
	guest.Run(func(in map[string]any) (map[string]any, error) {
		r := new(big.Rat).SetInt64(2)
		return map[string]any{"s": strings.ToUpper(r.String())}, nil
	})
}
`

func TestValidate(t *testing.T) {
	const head = "package main\n\nimport \"github.com/sgde-project/sgde/wasm/guest\"\n\n"
	const body = "func main() { guest.Run(nil) }\n"
	tests := []struct {
		name string
		src  string
		rule string // "" means accepted
		line int
	}{
		{"ok", okNode, "", 0},
		{"not main", "package node\n\nimport \"github.com/sgde-project/sgde/wasm/guest\"\n\n" + body, RulePackage, 1},
		{"no main", head + "func Main() { guest.Run(nil) }\n", RuleMain, 1},
		{"no sdk", "package main\n\nfunc main() {}\n", RuleSDK, 1},
		{"syntax", head + "func main() {\n", RuleSyntax, 5},
		{"os", head + "import \"os\"\n\nvar _ = os.Args\n" + body, RuleImport, 5},
		{"math/rand", head + "import \"math/rand\"\n\nvar _ = rand.Int\n" + body, RuleImport, 5},
		{"traversal", head + "import \"strings/../os\"\n" + body, RuleImport, 5},
		{"alias", head + "import s \"strings\"\n\nvar _ = s.ToUpper\n" + body, RuleImportAlias, 5},
		{"alias same name", head + "import strings \"strings\"\n\nvar _ = strings.ToUpper\n" + body, RuleImportAlias, 5},
		{"dot", head + "import . \"strings\"\n\nvar _ = ToUpper\n" + body, RuleImportAlias, 5},
		{"blank", head + "import _ \"strings\"\n" + body, RuleImportAlias, 5},
		{"homoglyph", head + "import \"\u0455trings\"\n" + body, RuleImportPath, 5},
		{"escaped homoglyph", head + "import \"\\u0455trings\"\n" + body, RuleImportPath, 5},
		{"control char", head + "import \"strings\\x00\"\n" + body, RuleImportPath, 5},
		{"raw string path", head + "import `os`\n" + body, RuleImport, 5},
		{"unsafe", head + "import \"unsafe\"\n\nvar _ = unsafe.Sizeof(0)\n" + body, RuleUnsafe, 5},
		{"cgo", head + "// #include <stdio.h>\nimport \"C\"\n" + body, RuleCgo, 6},
		{"go:build", "//go:build linux\n\n" + head + body, RuleDirective, 1},
		{"+build", "// +build linux\n\n" + head + body, RuleDirective, 1},
		{"linkname", head + "//go:linkname f runtime.nanotime\nfunc f() int64\n" + body, RuleDirective, 5},
		{"embed", head + "//go:embed x\nvar x string\n" + body, RuleDirective, 5},
		{"wasmimport", head + "//go:wasmimport sgde output_write\nfunc w(p, n uint32)\n" + body, RuleDirective, 5},
		{"noescape in body", head + "func main() {\n\t//go:noinline\n\tguest.Run(nil)\n}\n", RuleDirective, 6},
		{"line", head + "//line /etc/passwd:1\n" + body, RuleDirective, 5},
		{"block line", head + "/*line /etc/passwd:1*/\n" + body, RuleDirective, 5},
		{"tinygo export", head + "//export f\nfunc f() {}\n" + body, RuleDirective, 5},
		{"other tool directive", head + "//lint:ignore U1000 x\n" + body, RuleDirective, 5},
		{"prose with colon", head + "// note: this is fine\n" + body, "", 0},
		{"too large", head + body + "// " + strings.Repeat("x", plans.MaxSourceBytes) + "\n", RuleSize, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate([]byte(tt.src), "node.go")
			if tt.rule == "" {
				if err != nil {
					t.Fatalf("rejected: %v", err)
				}
				return
			}
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("err = %v, want ErrRejected", err)
			}
			var verr *ValidationError
			if !errors.As(err, &verr) {
				t.Fatalf("err %T is not a *ValidationError", err)
			}
			for _, v := range verr.Violations {
				if v.Rule == tt.rule {
					if v.Line != tt.line {
						t.Errorf("rule %s at line %d, want line %d (%v)", v.Rule, v.Line, tt.line, err)
					}
					if !strings.Contains(err.Error(), "node.go:") {
						t.Errorf("message %q does not name the file", err)
					}
					return
				}
			}
			t.Fatalf("violations %v, want rule %s", verr.Violations, tt.rule)
		})
	}
}

func TestAllowedImportsIsACopy(t *testing.T) {
	a := AllowedImports()
	a[0] = "os"
	if AllowedImports()[0] == "os" {
		t.Fatal("AllowedImports exposes internal state")
	}
}

// FuzzValidate checks that Validate never panics and that everything it accepts parses as a
// single package main file importing only allowlisted packages.
func FuzzValidate(f *testing.F) {
	f.Add([]byte(okNode))
	f.Add([]byte("package main\nimport \"C\"\n"))
	f.Add([]byte("//go:build x\npackage main\n"))
	f.Add([]byte("package main\nimport s \"strings\"\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		err := Validate(src, "fuzz.go")
		if err != nil {
			if !errors.Is(err, ErrRejected) {
				t.Fatalf("error %v does not wrap ErrRejected", err)
			}
			return
		}
		fset := token.NewFileSet()
		file, perr := parser.ParseFile(fset, "fuzz.go", src, parser.ParseComments)
		if perr != nil {
			t.Fatalf("accepted source that does not parse: %v", perr)
		}
		if file.Name.Name != "main" {
			t.Fatalf("accepted package %s", file.Name.Name)
		}
		for _, imp := range file.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			if imp.Name != nil || !allowed[p] {
				t.Fatalf("accepted import %s %s", imp.Name, imp.Path.Value)
			}
		}
		for _, cg := range file.Comments {
			for _, c := range cg.List {
				if strings.HasPrefix(c.Text, "//go:") || strings.HasPrefix(c.Text, "//line") {
					t.Fatalf("accepted directive %q", c.Text)
				}
			}
		}
	})
}
