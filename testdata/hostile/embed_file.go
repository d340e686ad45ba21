// Hostile: //go:embed to compile a host file into the module.
package main

import (
	"embed"

	"github.com/sgde-project/sgde/wasm/guest"
)

//go:embed node.go
var files embed.FS

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		b, _ := files.ReadFile("node.go")
		return map[string]any{"src": string(b)}, nil
	})
}
