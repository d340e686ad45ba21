package wasm_test

import (
	"errors"
	"fmt"

	"github.com/sgde-project/sgde/wasm"
)

func ExampleValidate() {
	src := []byte(`package main

import (
	s "strings"
	"os"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		return map[string]any{"home": s.ToUpper(os.Getenv("HOME"))}, nil
	})
}
`)
	err := wasm.Validate(src, "node.go")
	var verr *wasm.ValidationError
	if errors.As(err, &verr) {
		for _, v := range verr.Violations {
			fmt.Printf("line %d: %s\n", v.Line, v.Rule)
		}
	}
	fmt.Println(errors.Is(err, wasm.ErrRejected))
	// Output:
	// line 4: import-alias
	// line 5: import
	// true
}
