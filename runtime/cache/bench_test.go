package cache_test

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgde-project/sgde/runtime/cache"
)

// BenchmarkOpen times Open of a cache holding 20,000 answers of 1 KiB (about 30 MB), which
// checks every page of the file (bbolt's consistency check) before use, and Get, which checks
// the entry's checksum.
//
//	go test ./runtime/cache -run '^$' -bench . -benchtime 20x
func BenchmarkOpen(b *testing.B) {
	path := filepath.Join(b.TempDir(), "r.db")
	c, err := cache.Open(path, time.Second)
	if err != nil {
		b.Fatal(err)
	}
	text := strings.Repeat("x", 1024)
	var wg sync.WaitGroup
	for w := range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 20000; i += 32 {
				if err := c.Put(fmt.Sprintf("key-%06d", i), cache.Entry{Text: text}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	c.Close()
	st, _ := os.Stat(path)
	b.Logf("cache file: %.1f MB", float64(st.Size())/1e6)
	b.Run("open", func(b *testing.B) {
		for b.Loop() {
			c, err := cache.Open(path, time.Second)
			if err != nil {
				b.Fatal(err)
			}
			c.Close()
		}
	})
	b.Run("get", func(b *testing.B) {
		c, err := cache.Open(path, time.Second)
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		i := 0
		for b.Loop() {
			if _, ok, err := c.Get(fmt.Sprintf("key-%06d", i%20000)); !ok || err != nil {
				b.Fatal(ok, err)
			}
			i++
		}
	})
}
