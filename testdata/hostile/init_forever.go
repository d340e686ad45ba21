// Hostile: a package initialiser that never finishes, so main and guest.Run never start.
package main

import "github.com/sgde-project/sgde/wasm/guest"

var spin int

func init() {
	for {
		spin++
	}
}

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) { return nil, nil })
}
