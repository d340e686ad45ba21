package cache_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/sgde-project/sgde/runtime/cache"
)

// TestEntryChecksum changes stored bytes behind the cache's back, the way a bad disk or a
// careless edit would, and checks that Get reports the damage instead of returning it.
func TestEntryChecksum(t *testing.T) {
	tests := []struct {
		name   string
		damage func(t *testing.T, path string)
	}{
		{"digit of an answer", func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			// Every copy: bbolt copies on write, so freed pages may hold older ones.
			if !bytes.Contains(b, []byte("answer 12345")) {
				t.Fatal("answer not found in the file")
			}
			b = bytes.ReplaceAll(b, []byte("answer 12345"), []byte("answer 12346"))
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
		}},
		{"entry moved to another key", func(t *testing.T, path string) {
			rawUpdate(t, path, func(b *bolt.Bucket) error {
				return b.Put([]byte("k"), b.Get([]byte("other")))
			})
		}},
		{"entry without a checksum", func(t *testing.T, path string) {
			rawUpdate(t, path, func(b *bolt.Bucket) error {
				return b.Put([]byte("k"), []byte(`{"text":"answer 12345"}`))
			})
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "r.db")
			c, err := cache.Open(path, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Put("k", cache.Entry{Text: "answer 12345"}); err != nil {
				t.Fatal(err)
			}
			if err := c.Put("other", cache.Entry{Text: "answer 99999"}); err != nil {
				t.Fatal(err)
			}
			c.Close()
			tt.damage(t, path)
			c, err = cache.Open(path, time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			e, ok, err := c.Get("k")
			if !errors.Is(err, cache.ErrCorrupt) || ok {
				t.Fatalf("damaged entry: got %+v ok=%v err=%v, want ErrCorrupt", e, ok, err)
			}
			if e, ok, err := c.Get("other"); err != nil || !ok || e.Text != "answer 99999" {
				t.Fatalf("sound entry: got %+v ok=%v err=%v", e, ok, err)
			}
			// Rewriting the entry heals it.
			if err := c.Put("k", cache.Entry{Text: "answer 12345"}); err != nil {
				t.Fatal(err)
			}
			if e, ok, err := c.Get("k"); err != nil || !ok || e.Text != "answer 12345" {
				t.Fatalf("rewritten entry: got %+v ok=%v err=%v", e, ok, err)
			}
		})
	}
}

func rawUpdate(t *testing.T, path string, f func(*bolt.Bucket) error) {
	t.Helper()
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Update(func(tx *bolt.Tx) error { return f(tx.Bucket([]byte("responses/v1"))) }); err != nil {
		t.Fatal(err)
	}
}

// TestCorruptFile writes a page of garbage into a database with several pages. Open must not
// panic (bbolt does on such pages): it moves the file aside, starts an empty store and says so.
func TestCorruptFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "r.db")
	c, err := cache.Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	// Concurrent puts share transactions (Batch): 400 single fsyncs would take seconds.
	var wg sync.WaitGroup
	for w := range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < 400; i += 20 {
				if err := c.Put(fmt.Sprintf("key-%04d", i), cache.Entry{Text: strings.Repeat("x", 200)}); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	c.Close()
	orig, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	const page = 4096
	pages := len(orig) / page
	if pages < 8 {
		t.Fatalf("only %d pages", pages)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	detected := 0
	defer func() {
		if detected == 0 && !t.Failed() {
			t.Error("no garbage page was detected: the test exercises nothing")
		}
	}()
	for _, pg := range []int{2, 3, pages / 2, pages - 1} {
		t.Run(fmt.Sprint("page ", pg), func(t *testing.T) {
			b := bytes.Clone(orig)
			for i := pg * page; i < (pg+1)*page; i++ {
				b[i] = byte(rng.UintN(256))
			}
			p := filepath.Join(t.TempDir(), "r.db")
			if err := os.WriteFile(p, b, 0o644); err != nil {
				t.Fatal(err)
			}
			c, err := cache.Open(p, time.Second)
			if err != nil {
				// A clear error is acceptable too; a panic is not (it would fail the test).
				if !strings.Contains(err.Error(), "corrupt") {
					t.Fatalf("err = %v, want it to say the file is corrupt", err)
				}
				detected++
				return
			}
			defer c.Close()
			aside, why := c.MovedAside()
			if aside == "" || why == nil {
				// Garbage in a free page is harmless; then every entry must still read back.
				for i := range 400 {
					if _, ok, err := c.Get(fmt.Sprintf("key-%04d", i)); err != nil || !ok {
						t.Fatalf("file kept but entry %d: ok=%v err=%v", i, ok, err)
					}
				}
				return
			}
			detected++
			t.Logf("moved aside: %v", why)
			if got, err := os.ReadFile(aside); err != nil || !bytes.Equal(got, b) {
				t.Fatalf("moved-aside file %s: %v (equal=%v)", aside, err, bytes.Equal(got, b))
			}
			if n, err := c.Len(); err != nil || n != 0 {
				t.Fatalf("fresh store: len %d, %v", n, err)
			}
			if err := c.Put("k", cache.Entry{Text: "v"}); err != nil {
				t.Fatal(err)
			}
		})
	}
}
