package main

import (
	"strings"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(in map[string]any) (map[string]any, error) {
		s, _ := in["text"].(string)
		return map[string]any{"text": strings.ToUpper(s) + "!"}, nil
	})
}
