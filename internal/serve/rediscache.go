package serve

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/sgde-project/sgde/runtime/cache"
)

// Defaults of CacheOptions.
const (
	DefaultCacheTTL        = 7 * 24 * time.Hour
	DefaultCacheMaxEntries = 100_000
	DefaultCacheEntryBytes = 64 << 10
)

// CacheOptions bounds a tenant's response cache in Redis.
type CacheOptions struct {
	// TTL is how long an entry lives; 0 means DefaultCacheTTL.
	TTL time.Duration
	// MaxEntries bounds the tenant's entries; past it the oldest stored go first. 0 means
	// DefaultCacheMaxEntries.
	MaxEntries int
	// MaxEntryBytes bounds one stored entry; larger answers are not cached. 0 means
	// DefaultCacheEntryBytes.
	MaxEntryBytes int
}

// RedisCache is one tenant's response store in Redis (a cache.Store), shared by every replica.
// Entries are checksummed as in the file cache (cache.Encode). A Redis that cannot be reached
// makes every Get a miss and every Put a no-op: the outage costs student calls, not answers.
//
// # Notes
//
//   - Each command is bounded by RedisOptions.Timeout rather than a caller's context, because
//     cache.Store has none.
//   - Eviction is by age of storing (first in, first out), not by use: a Get costs one GET and
//     writes nothing.
type RedisCache struct {
	r      *Redis
	prefix string // of the entries' keys
	index  string // sorted set of the tenant's entry keys by time stored
	opts   CacheOptions

	hits, misses, errs, skipped atomic.Int64
}

var _ cache.Store = (*RedisCache)(nil)

// ResponseCache returns the response store of tenant.
func (r *Redis) ResponseCache(tenant string, opts CacheOptions) *RedisCache {
	if opts.TTL <= 0 {
		opts.TTL = DefaultCacheTTL
	}
	if opts.MaxEntries <= 0 {
		opts.MaxEntries = DefaultCacheMaxEntries
	}
	if opts.MaxEntryBytes <= 0 {
		opts.MaxEntryBytes = DefaultCacheEntryBytes
	}
	return &RedisCache{r: r, prefix: r.key(tenant, "resp:"), index: r.key(tenant, "resp-index"), opts: opts}
}

// Get implements cache.Store.
func (c *RedisCache) Get(key string) (cache.Entry, bool, error) {
	if !c.r.up.Load() {
		c.count(&c.misses, &c.r.cacheMisses)
		return cache.Entry{}, false, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.r.timeout)
	defer cancel()
	v, err := c.r.c.Get(ctx, c.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		c.count(&c.misses, &c.r.cacheMisses)
		return cache.Entry{}, false, nil
	}
	c.r.setUp(err)
	if err != nil {
		c.count(&c.errs, &c.r.cacheErrs)
		c.count(&c.misses, &c.r.cacheMisses)
		return cache.Entry{}, false, nil
	}
	e, err := cache.Decode(key, v)
	if err != nil {
		c.count(&c.errs, &c.r.cacheErrs)
		return cache.Entry{}, false, fmt.Errorf("redis response cache get %s: %w", key, err)
	}
	c.count(&c.hits, &c.r.cacheHits)
	return e, true, nil
}

// putScript stores an entry with its TTL, indexes it, forgets index entries past the TTL and
// evicts the oldest past the bound.
//
// KEYS[1] entry, KEYS[2] index; ARGV[1] value, ARGV[2] TTL (ms), ARGV[3] max entries
var putScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local ttl = tonumber(ARGV[2])
redis.call('SET', KEYS[1], ARGV[1], 'PX', ttl)
redis.call('ZADD', KEYS[2], now, KEYS[1])
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now - ttl)
local over = redis.call('ZCARD', KEYS[2]) - tonumber(ARGV[3])
if over > 0 then
  local old = redis.call('ZPOPMIN', KEYS[2], over)
  for i = 1, #old, 2 do
    redis.call('DEL', old[i])
  end
end
redis.call('PEXPIRE', KEYS[2], ttl)
return 1
`)

// Put implements cache.Store. It never fails: an entry that cannot be stored is counted and
// dropped.
func (c *RedisCache) Put(key string, e cache.Entry) error {
	v, err := cache.Encode(key, e)
	if err != nil {
		return fmt.Errorf("redis response cache put: %w", err)
	}
	if len(v) > c.opts.MaxEntryBytes {
		c.count(&c.skipped, &c.r.cacheSkipped)
		return nil
	}
	if !c.r.up.Load() {
		c.count(&c.skipped, &c.r.cacheSkipped)
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.r.timeout)
	defer cancel()
	err = putScript.Run(ctx, c.r.c, []string{c.prefix + key, c.index}, v, c.opts.TTL.Milliseconds(), c.opts.MaxEntries).Err()
	c.r.setUp(err)
	if err != nil {
		c.count(&c.errs, &c.r.cacheErrs)
	}
	return nil
}

// CacheStats counts what a RedisCache did.
type CacheStats struct {
	Hits, Misses int64
	// Errors counts unreachable-store failures and entries that failed their checksum.
	Errors int64
	// Skipped counts entries not stored: too large, or the store down.
	Skipped int64
}

// Stats returns the counts so far.
func (c *RedisCache) Stats() CacheStats {
	return CacheStats{Hits: c.hits.Load(), Misses: c.misses.Load(), Errors: c.errs.Load(), Skipped: c.skipped.Load()}
}

// count adds one to a tenant's counter and to the store's (for /metrics).
func (c *RedisCache) count(tenant, all *atomic.Int64) {
	tenant.Add(1)
	all.Add(1)
}
