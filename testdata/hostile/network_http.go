// Hostile: makes a network request.
package main

import (
	"net/http"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		resp, err := http.Get("http://169.254.169.254/latest/meta-data/")
		if err != nil {
			return nil, err
		}
		return map[string]any{"status": resp.Status}, nil
	})
}
