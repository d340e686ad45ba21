// Hostile: blocks forever on nothing; the Go runtime reports a deadlock.
package main

import "github.com/sgde-project/sgde/wasm/guest"

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		select {}
	})
}
