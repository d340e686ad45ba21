package wasm

import (
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"regexp"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/sgde-project/sgde/plans"
)

// ErrRejected is wrapped by every error Validate returns: the source breaks a code-node rule and
// never reaches a compiler.
var ErrRejected = errors.New("source rejected")

// Rules that Validate enforces. A Violation names one of them.
const (
	RuleSize        = "size"         // source larger than plans.MaxSourceBytes
	RuleSyntax      = "syntax"       // not valid Go
	RulePackage     = "package"      // not package main
	RuleMain        = "main"         // no func main
	RuleImport      = "import"       // import outside the allowlist
	RuleImportAlias = "import-alias" // named, dot or blank import
	RuleImportPath  = "import-path"  // import path that is not plain ASCII
	RuleUnsafe      = "unsafe"       // import "unsafe"
	RuleCgo         = "cgo"          // import "C"
	RuleDirective   = "directive"    // //go:, //line, //export, // +build and other compiler directives
	RuleSDK         = "sdk"          // the SDK is not imported
)

// Violation is one broken rule at one place in the source.
type Violation struct {
	Line, Column int
	Rule         string
	Message      string
}

// ValidationError lists every rule a source breaks. It wraps ErrRejected.
type ValidationError struct {
	// File is the name the caller gave the source (used in messages only).
	File       string
	Violations []Violation
}

// Error implements error: "node.go:3:2: import: package "os" is not allowed; ...".
func (e *ValidationError) Error() string {
	var b strings.Builder
	for i, v := range e.Violations {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s:%d:%d: %s: %s", e.File, v.Line, v.Column, v.Rule, v.Message)
	}
	return b.String()
}

// Unwrap lets callers test errors.Is(err, ErrRejected).
func (e *ValidationError) Unwrap() error { return ErrRejected }

// directive matches the Go convention for tool directives, "//toolname:directive" with no space
// after the slashes (//go:linkname, //go:embed, //go:wasmimport, //go:build, //lint:ignore...).
var directive = regexp.MustCompile(`^//[a-z0-9_]+:[a-z0-9_]`)

// Validate checks that src is a code node: one file, package main, with a func main, importing the
// SDK and nothing outside the allowlist, without aliases, unsafe, cgo or compiler directives. The
// error, when not nil, is a *ValidationError naming the line and rule of every violation.
func Validate(src []byte, filename string) error {
	if filename == "" {
		filename = "node.go"
	}
	verr := &ValidationError{File: filename}
	add := func(pos token.Position, rule, format string, args ...any) {
		verr.Violations = append(verr.Violations, Violation{Line: pos.Line, Column: pos.Column, Rule: rule, Message: fmt.Sprintf(format, args...)})
	}
	if len(src) > plans.MaxSourceBytes {
		add(token.Position{Line: 1, Column: 1}, RuleSize, "source is %d bytes, more than the limit of %d", len(src), plans.MaxSourceBytes)
		return verr
	}
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, filename, src, parser.ParseComments|parser.SkipObjectResolution)
	if err != nil {
		var list scanner.ErrorList
		if errors.As(err, &list) {
			for i, e := range list {
				if i == 10 {
					break
				}
				add(e.Pos, RuleSyntax, "%s", e.Msg)
			}
		} else {
			add(token.Position{Line: 1, Column: 1}, RuleSyntax, "%v", err)
		}
		return verr
	}
	if f.Name.Name != "main" {
		add(fset.Position(f.Name.Pos()), RulePackage, "package is %q, must be main", f.Name.Name)
	}

	// Directives are comments, so every comment is checked wherever it is: the go command and the
	// compiler read some of them (//go:build, //line) outside declarations too.
	for _, cg := range f.Comments {
		for _, c := range cg.List {
			if msg := checkComment(c.Text); msg != "" {
				add(fset.Position(c.Pos()), RuleDirective, "%s", msg)
			}
		}
	}

	sdk := false
	for _, spec := range f.Imports {
		pos := fset.Position(spec.Pos())
		path, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			add(pos, RuleImportPath, "import path %s is not a valid string", spec.Path.Value)
			continue
		}
		if spec.Name != nil {
			add(fset.Position(spec.Name.Pos()), RuleImportAlias, "import %q is renamed to %s: imports may not be renamed, dotted or blank", path, spec.Name.Name)
		}
		switch {
		case path == "C":
			add(pos, RuleCgo, "cgo (import \"C\") is not allowed")
		case path == "unsafe":
			add(pos, RuleUnsafe, "package unsafe is not allowed")
		case !isPlainASCII(path):
			r, _ := firstNonASCII(path)
			add(pos, RuleImportPath, "import path %q contains the non-ASCII character %U: only the allowlisted paths, spelled in ASCII, may be imported", path, r)
		case !allowed[path]:
			add(pos, RuleImport, "package %q is not allowed (allowed: %s)", path, strings.Join(AllowedImports(), ", "))
		case path == SDKImportPath:
			sdk = true
		}
	}
	if !sdk {
		add(fset.Position(f.Package), RuleSDK, "the node must import %q and call guest.Run from main", SDKImportPath)
	}
	if !hasMain(f) {
		add(fset.Position(f.Package), RuleMain, "the node must declare func main()")
	}
	if len(verr.Violations) > 0 {
		return verr
	}
	return nil
}

// checkComment returns why the comment is a directive, or "" when it is plain prose.
func checkComment(text string) string {
	if strings.HasPrefix(text, "/*") {
		if strings.HasPrefix(text, "/*line ") {
			return "//line and /*line directives are not allowed"
		}
		return ""
	}
	switch {
	case directive.MatchString(text):
		name := text[2:]
		if i := strings.IndexAny(name, " \t"); i >= 0 {
			name = name[:i]
		}
		return fmt.Sprintf("compiler directive //%s is not allowed", name)
	case strings.HasPrefix(text, "//line "), text == "//line":
		return "//line and /*line directives are not allowed"
	case strings.HasPrefix(text, "//export "), strings.HasPrefix(text, "//extern "):
		return "TinyGo //export and //extern directives are not allowed"
	case strings.HasPrefix(strings.TrimLeft(text[2:], " \t"), "+build"):
		return "build constraints (// +build) are not allowed"
	}
	return ""
}

func hasMain(f *ast.File) bool {
	for _, d := range f.Decls {
		if fn, ok := d.(*ast.FuncDecl); ok && fn.Recv == nil && fn.Name.Name == "main" {
			return true
		}
	}
	return false
}

func isPlainASCII(s string) bool {
	_, ok := firstNonASCII(s)
	return !ok
}

func firstNonASCII(s string) (rune, bool) {
	for _, r := range s {
		if r >= utf8.RuneSelf || r < 0x20 {
			return r, true
		}
	}
	return 0, false
}
