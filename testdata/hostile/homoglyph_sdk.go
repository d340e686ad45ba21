// Hostile: an SDK look-alike path with a Cyrillic о (U+043E) in "sgde-prоject".
package main

import "github.com/sgde-prоject/sgde/wasm/guest"

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) { return nil, nil })
}
