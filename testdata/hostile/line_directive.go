// Hostile: a //line directive that makes compiler messages point at host files.
package main

import "github.com/sgde-project/sgde/wasm/guest"

//line /etc/shadow:1
func main() {
	guest.Run(func(map[string]any) (map[string]any, error) { return nil, nil })
}
