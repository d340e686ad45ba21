// Hostile: a panic in a goroutine the SDK cannot recover, which kills the Go runtime.
package main

import "github.com/sgde-project/sgde/wasm/guest"

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		done := make(chan int)
		go func() {
			var m map[string]int
			m["x"] = 1
			done <- 1
		}()
		return map[string]any{"n": <-done}, nil
	})
}
