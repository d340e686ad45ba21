// Command multi is a test guest: each argument selects a deterministic workload whose output the
// rewriter tests compare between the original and the rewritten module.
package main

import (
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"sort"
	"strconv"
	"sync"
)

func main() {
	for _, arg := range os.Args[1:] {
		switch arg {
		case "big":
			f := big.NewInt(1)
			for i := int64(2); i <= 300; i++ {
				f.Mul(f, big.NewInt(i))
			}
			s := f.String()
			fmt.Println("big", len(s), s[:20], s[len(s)-80:len(s)-60])
		case "json":
			type rec struct {
				Name  string             `json:"name"`
				Vals  []float64          `json:"vals"`
				Attrs map[string]float64 `json:"attrs"`
			}
			var rs []rec
			for i := 0; i < 50; i++ {
				rs = append(rs, rec{Name: "r" + strconv.Itoa(i), Vals: []float64{float64(i) / 3, float64(i * i)},
					Attrs: map[string]float64{"a": float64(i), "b": 1.5}})
			}
			b, _ := json.Marshal(rs)
			var back []rec
			if err := json.Unmarshal(b, &back); err != nil {
				panic(err)
			}
			fmt.Println("json", len(b), back[49].Name, back[49].Vals[0], string(b[:60]))
		case "maps":
			m := map[int]int{}
			for i := 0; i < 20000; i++ {
				m[(i*7919)%10007] += i
			}
			keys := make([]int, 0, len(m))
			for k := range m {
				keys = append(keys, k)
			}
			sort.Ints(keys)
			sum := 0
			for _, k := range keys {
				sum = (sum*31 + m[k]) % 1000000007
			}
			fmt.Println("maps", len(m), sum)
		case "rec":
			fmt.Println("rec", fib(24), ack(2, 300))
		case "gor":
			var wg sync.WaitGroup
			ch := make(chan int)
			out := make(chan int, 8)
			for w := 0; w < 4; w++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for v := range ch {
						out <- v * v
					}
				}()
			}
			go func() {
				for i := 0; i < 1000; i++ {
					ch <- i
				}
				close(ch)
			}()
			go func() { wg.Wait(); close(out) }()
			total := 0
			for v := range out {
				total += v
			}
			fmt.Println("gor", total)
		case "loop":
			fmt.Println("loop", spin(3_000_000))
		case "loopbig":
			fmt.Println("loopbig", spin(30_000_000))
		case "forever":
			fmt.Println("forever", spin(1<<62))
		case "deep":
			fmt.Println("deep", deep(1<<40))
		case "deepish":
			fmt.Println("deepish", deep(20000))
		}
	}
}

func fib(n int) int {
	if n < 2 {
		return n
	}
	return fib(n-1) + fib(n-2)
}

func ack(m, n int) int {
	if m == 0 {
		return n + 1
	}
	if n == 0 {
		return ack(m-1, 1)
	}
	return ack(m-1, ack(m, n-1))
}

//go:noinline
func spin(n int) uint64 {
	x := uint64(1)
	for i := 0; i < n; i++ {
		x = x*6364136223846793005 + 1442695040888963407
		x ^= x >> 29
	}
	return x
}

//go:noinline
func deep(n int) int {
	if n == 0 {
		return 0
	}
	return deep(n-1) + 1
}
