// Hostile: prints 64 MiB to stdout, then succeeds; the host keeps only a bounded prefix.
package main

import (
	"fmt"
	"strings"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	line := strings.Repeat("y", 1<<16)
	for i := 0; i < 1024; i++ {
		fmt.Println(line)
	}
	guest.Run(func(map[string]any) (map[string]any, error) { return map[string]any{"done": true}, nil })
}
