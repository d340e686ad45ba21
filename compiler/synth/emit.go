package synth

import (
	"bytes"
	_ "embed"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/printer"
	"go/token"
	"sort"
	"strings"
)

//go:embed prims.go
var primsSource string

// helpers lists the declarations a primitive's function needs besides itself.
var helpers = map[string][]string{
	"firstNumber": {"allDigits"},
	"evalArith":   {"exprParser", "exprParser.skip", "exprParser.sum", "exprParser.product", "exprParser.unary"},
	"parseDate":   {"date", "monthNames", "daysIn"},
	"formatDate":  {"date", "monthNames"},
}

var goTypes = map[typ]string{tStr: "string", tStrs: "[]string", tNum: "float64", tBool: "bool", tDate: "date"}

// Emit writes p as a code node's Go source: the guest.Run wrapper reading the string field
// input and returning {"answer": text}, a commented solve function with one step per
// primitive, and the primitives' own source copied from prims.go. The result is gofmt'ed.
func Emit(p Program, input string, examples int) (string, error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "prims.go", primsSource, parser.ParseComments)
	if err != nil {
		return "", fmt.Errorf("synth: parse primitives: %w", err)
	}
	decls := map[string]ast.Decl{}
	for _, d := range f.Decls {
		switch d := d.(type) {
		case *ast.FuncDecl:
			name := d.Name.Name
			if d.Recv != nil && len(d.Recv.List) == 1 {
				if st, ok := d.Recv.List[0].Type.(*ast.StarExpr); ok {
					name = st.X.(*ast.Ident).Name + "." + name
				}
			}
			decls[name] = d
		case *ast.GenDecl:
			if d.Tok == token.TYPE || d.Tok == token.VAR {
				for _, s := range d.Specs {
					switch s := s.(type) {
					case *ast.TypeSpec:
						decls[s.Name.Name] = d
					case *ast.ValueSpec:
						decls[s.Names[0].Name] = d
					}
				}
			}
		}
	}
	need := map[string]bool{}
	var order []string
	add := func(n string) {
		if !need[n] {
			need[n] = true
			order = append(order, n)
		}
	}
	var body strings.Builder
	fmt.Fprintf(&body, "// solve is the synthesised program, one vetted primitive per step.\nfunc solve(v0 string) (string, error) {\n")
	t := tStr
	for i, s := range p.Steps {
		pr, ok := primByName(s.Prim)
		if !ok || pr.in != t {
			return "", fmt.Errorf("synth: step %d: %q does not apply to its input", i+1, s.Prim)
		}
		add(s.Prim)
		for _, h := range helpers[s.Prim] {
			add(h)
		}
		call := []string{fmt.Sprintf("v%d", i)}
		for _, a := range s.Args {
			call = append(call, fmt.Sprintf("%q", a))
		}
		fmt.Fprintf(&body, "\t// %d. %s\n\tv%d, err := %s(%s)\n\tif err != nil {\n\t\treturn \"\", err\n\t}\n",
			i+1, pr.comment, i+1, s.Prim, strings.Join(call, ", "))
		t = pr.out
	}
	if t != tStr {
		return "", fmt.Errorf("synth: the program ends in %s, not text", goTypes[t])
	}
	fmt.Fprintf(&body, "\treturn v%d, nil\n}\n", len(p.Steps))
	var prims bytes.Buffer
	printed := map[ast.Decl]bool{}
	for _, n := range order {
		d := decls[n]
		if d == nil {
			return "", fmt.Errorf("synth: no declaration %q in the primitives", n)
		}
		if printed[d] {
			continue
		}
		printed[d] = true
		prims.WriteString("\n")
		if err := printer.Fprint(&prims, fset, &printer.CommentedNode{Node: d, Comments: f.Comments}); err != nil {
			return "", fmt.Errorf("synth: print %s: %w", n, err)
		}
		prims.WriteString("\n")
	}
	code := body.String() + prims.String()
	imports := []string{"errors"}
	for _, pkg := range []string{"fmt", "math", "sort", "strconv", "strings", "unicode"} {
		if strings.Contains(code, pkg+".") {
			imports = append(imports, pkg)
		}
	}
	sort.Strings(imports)
	var src strings.Builder
	fmt.Fprintf(&src, "// Code synthesised by sgde's library teacher from %d training examples, from vetted\n// primitives only (compiler/synth/prims.go).\n//\n// Program: %s\npackage main\n\nimport (\n", examples, p)
	for _, imp := range imports {
		fmt.Fprintf(&src, "\t%q\n", imp)
	}
	fmt.Fprintf(&src, "\n\t\"github.com/sgde-project/sgde/wasm/guest\"\n)\n\n")
	fmt.Fprintf(&src, "func main() {\n\tguest.Run(func(in map[string]any) (map[string]any, error) {\n\t\tq, ok := in[%q].(string)\n\t\tif !ok {\n\t\t\treturn nil, errors.New(%q)\n\t\t}\n\t\tans, err := solve(q)\n\t\tif err != nil {\n\t\t\treturn nil, err\n\t\t}\n\t\treturn map[string]any{\"answer\": ans}, nil\n\t})\n}\n\n",
		input, input+" is not text")
	src.WriteString(code)
	out, err := format.Source([]byte(src.String()))
	if err != nil {
		return "", fmt.Errorf("synth: gofmt: %w", err)
	}
	return string(out), nil
}
