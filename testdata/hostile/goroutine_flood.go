// Hostile: starts goroutines without end, each blocked forever.
package main

import "github.com/sgde-project/sgde/wasm/guest"

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		block := make(chan struct{})
		for {
			go func() {
				var pad [4096]byte
				pad[0] = 1
				<-block
				_ = pad
			}()
		}
	})
}
