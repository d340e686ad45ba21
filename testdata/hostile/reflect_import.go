// Hostile: reflect is outside the allowlist (and a route to unsafe pointer tricks).
package main

import (
	"reflect"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(in map[string]any) (map[string]any, error) {
		return map[string]any{"t": reflect.TypeOf(in).String()}, nil
	})
}
