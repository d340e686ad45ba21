package cache_test

import (
	"fmt"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
)

func TestKeyDistinguishes(t *testing.T) {
	temp := 0.7
	base := cache.KeyParts{Model: "m", Messages: []llm.Message{{Role: "user", Content: "q"}}}
	variants := map[string]func(p *cache.KeyParts){
		"model":   func(p *cache.KeyParts) { p.Model = "m2" },
		"message": func(p *cache.KeyParts) { p.Messages = []llm.Message{{Role: "user", Content: "q "}} },
		"role":    func(p *cache.KeyParts) { p.Messages = []llm.Message{{Role: "system", Content: "q"}} },
		"temp":    func(p *cache.KeyParts) { p.Sampling.Temperature = &temp },
		"sample":  func(p *cache.KeyParts) { p.Sample = 1 },
		"attempt": func(p *cache.KeyParts) { p.Attempt = 1 },
		"schema":  func(p *cache.KeyParts) { p.Schema = map[string]any{"type": "object"} },
	}
	k0 := cache.Key(base)
	if k0 != cache.Key(base) {
		t.Fatal("key not deterministic")
	}
	for name, f := range variants {
		p := base
		f(&p)
		if cache.Key(p) == k0 {
			t.Errorf("changing %s does not change the key", name)
		}
	}
	// Map order must not matter.
	a := base
	a.Schema = map[string]any{"a": 1, "b": 2, "c": 3}
	b := base
	b.Schema = map[string]any{"c": 3, "b": 2, "a": 1}
	if cache.Key(a) != cache.Key(b) {
		t.Error("key depends on map order")
	}
}

func TestStoreRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "r.db")
	c, err := cache.Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok, err := c.Get("k"); ok || err != nil {
		t.Fatalf("empty cache: ok=%v err=%v", ok, err)
	}
	want := cache.Entry{Text: "42", Usage: llm.Usage{TotalTokens: 7}}
	if err := c.Put("k", want); err != nil {
		t.Fatal(err)
	}
	c.Close()
	c, err = cache.Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got, ok, err := c.Get("k")
	if err != nil || !ok || got.Text != want.Text || got.Usage != want.Usage {
		t.Fatalf("got %+v ok=%v err=%v", got, ok, err)
	}
	if n, _ := c.Len(); n != 1 {
		t.Errorf("len = %d", n)
	}
}

func TestParseMode(t *testing.T) {
	for _, s := range []string{"use", "refresh", "off", "replay", "replay-only"} {
		if _, err := cache.ParseMode(s); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	if _, err := cache.ParseMode("sometimes"); err == nil {
		t.Error("bad mode accepted")
	}
}

func TestOpenHeldElsewhere(t *testing.T) {
	path := filepath.Join(t.TempDir(), "r.db")
	c, err := cache.Open(path, time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, err := cache.Open(path, 50*time.Millisecond); err == nil || !strings.Contains(err.Error(), "another process holds it") {
		t.Fatalf("err = %v", err)
	}
}

func TestConcurrentPuts(t *testing.T) {
	c, err := cache.Open(filepath.Join(t.TempDir(), "r.db"), time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := c.Put(fmt.Sprint(i), cache.Entry{Text: fmt.Sprint(i)}); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	for i := range 16 {
		if e, ok, err := c.Get(fmt.Sprint(i)); !ok || err != nil || e.Text != fmt.Sprint(i) {
			t.Errorf("entry %d: %+v %v %v", i, e, ok, err)
		}
	}
}
