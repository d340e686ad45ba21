// Hostile: tries to observe anything that varies between runs: map order (seeded from the
// sandbox's random source), scheduling and the address of allocations. The sandbox must
// return the same output every time.
package main

import (
	"fmt"

	"github.com/sgde-project/sgde/wasm/guest"
)

func main() {
	guest.Run(func(map[string]any) (map[string]any, error) {
		m := map[int]int{}
		for i := 0; i < 64; i++ {
			m[i] = i
		}
		order := ""
		for k := range m {
			order += fmt.Sprint(k, ",")
		}
		results := make(chan int, 8)
		for i := 0; i < 8; i++ {
			go func() { results <- i }()
		}
		sched := ""
		for i := 0; i < 8; i++ {
			sched += fmt.Sprint(<-results)
		}
		p := fmt.Sprintf("%p", new([64]byte))
		return map[string]any{"order": order, "sched": sched, "ptr": p}, nil
	})
}
