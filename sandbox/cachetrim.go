package sandbox

import (
	"sync"
	"time"

	"github.com/sgde-project/sgde/internal/cachedir"
)

// DefaultCompilationCacheMaxBytes bounds an engine's compilation cache on disk
// (WithCompilationCacheDir): the oldest entries go first once it is over.
const DefaultCompilationCacheMaxBytes = 2 << 30

// compilationCacheTrimEvery spaces out the trims of a compilation cache: each walks the
// directory, and a long-running engine (sgde serve) loads modules all day.
const compilationCacheTrimEvery = time.Minute

// WithCompilationCacheMaxBytes bounds the compilation cache of WithCompilationCacheDir (default
// DefaultCompilationCacheMaxBytes; a negative n for no bound). The engine trims it after a load
// that compiled, at most once a minute, removing the least recently written entries (wasmtime's
// cache entries are also marked when used; wazero's cache gives no hook for that).
func WithCompilationCacheMaxBytes(n int64) Option {
	return func(c *engineConfig) { c.cacheMaxBytes = n }
}

// cacheTrimmer trims one compilation cache directory to its bound, at most once per every.
type cacheTrimmer struct {
	dir   string
	max   int64 // <= 0: no bound
	every time.Duration

	mu   sync.Mutex
	last time.Time
}

// newCacheTrimmer returns the trimmer of cfg's compilation cache; nil when there is nothing to
// trim.
func newCacheTrimmer(cfg engineConfig) *cacheTrimmer {
	max := cfg.cacheMaxBytes
	if max == 0 {
		max = DefaultCompilationCacheMaxBytes
	}
	if cfg.cacheDir == "" || max < 0 {
		return nil
	}
	return &cacheTrimmer{dir: cfg.cacheDir, max: max, every: compilationCacheTrimEvery}
}

// maybeTrim trims the cache unless it was trimmed less than every ago. It runs on the loading
// goroutine: a walk of a cache of compiled modules (one file per module) takes milliseconds.
func (t *cacheTrimmer) maybeTrim() {
	if t == nil {
		return
	}
	t.mu.Lock()
	if !t.last.IsZero() && time.Since(t.last) < t.every {
		t.mu.Unlock()
		return
	}
	t.last = time.Now()
	t.mu.Unlock()
	cachedir.Trim(t.dir, t.max)
}
