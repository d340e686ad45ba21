package serve

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Defaults of RedisOptions.
const (
	DefaultLeaseTTL    = 10 * time.Second
	DefaultRedisPrefix = "sgde"
	// DefaultRedisTimeout bounds one Redis command (dial, read, write). A request waits at most
	// this long for a dead Redis before the failure mode applies.
	DefaultRedisTimeout = 250 * time.Millisecond
)

// RedisOptions configures OpenRedis.
type RedisOptions struct {
	// URL is redis://[user:password@]host:port/db (rediss:// for TLS).
	URL string
	// LeaseTTL is how long a concurrency slot outlives the replica holding it: a live replica
	// renews its slots every LeaseTTL/3, so a killed one's slots free themselves within
	// LeaseTTL. 0 means DefaultLeaseTTL.
	LeaseTTL time.Duration
	// Prefix starts every key, so that several deployments can share one Redis database;
	// "" means DefaultRedisPrefix.
	Prefix string
	// Timeout bounds each command; 0 means DefaultRedisTimeout.
	Timeout time.Duration
	// Logger receives the store's state changes; nil discards.
	Logger *slog.Logger
}

// Redis is the shared state of a set of replicas in one Redis: the Quotas every replica counts
// in, and the response caches they share (ResponseCache). Its methods are safe for concurrent
// use.
//
// # Notes
//
//   - Time is Redis's (the TIME command inside each script), so replicas' clocks may disagree.
//   - While Redis is known to be down, calls fail at once with ErrStateUnavailable instead of
//     waiting for a timeout each; a probe every second notices when it is back (go-redis
//     reconnects by itself), so no restart is needed.
type Redis struct {
	c        *redis.Client
	prefix   string
	leaseTTL time.Duration
	timeout  time.Duration
	log      *slog.Logger

	up      atomic.Bool
	lastErr atomic.Pointer[string]

	// Counts of every tenant's RedisCache, for Collect.
	cacheHits, cacheMisses, cacheErrs, cacheSkipped atomic.Int64

	mu     sync.Mutex
	leases map[lease]struct{} // held by this process, renewed by loop

	kick chan struct{} // a command failed: probe now, not at the next tick
	stop context.CancelFunc
	done chan struct{}
}

type lease struct{ key, id string }

// redisLog sends go-redis's own messages (dial failures, mostly: the probe reports those too) to
// the first opener's logger at debug level. go-redis has one logger per process.
type redisLog struct{ log *slog.Logger }

func (l redisLog) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, "go-redis: "+fmt.Sprintf(format, v...))
}

var redisLogOnce sync.Once

// OpenRedis connects to the Redis at opts.URL and starts the goroutine that probes it and renews
// this process's leases; Close stops it. A Redis that does not answer yet is not an error (the
// replica starts not ready and becomes ready when it answers); a malformed URL is.
func OpenRedis(ctx context.Context, opts RedisOptions) (*Redis, error) {
	ro, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("state store URL: %w", err)
	}
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultRedisTimeout
	}
	if opts.LeaseTTL <= 0 {
		opts.LeaseTTL = DefaultLeaseTTL
	}
	if opts.LeaseTTL < 300*time.Millisecond {
		return nil, fmt.Errorf("lease TTL %s is below 300ms: leases could expire between renewals", opts.LeaseTTL)
	}
	if opts.Prefix == "" {
		opts.Prefix = DefaultRedisPrefix
	}
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout = opts.Timeout, opts.Timeout, opts.Timeout
	// One try: a retry doubles the wait of every request while Redis is down, and the quota
	// decision must be quick; the failure mode is the retry policy.
	ro.MaxRetries = -1
	ro.DialerRetries = 1
	ro.ContextTimeoutEnabled = true
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	redisLogOnce.Do(func() { redis.SetLogger(redisLog{log}) })
	r := &Redis{c: redis.NewClient(ro), prefix: opts.Prefix, leaseTTL: opts.LeaseTTL, timeout: opts.Timeout, log: log,
		leases: map[lease]struct{}{}, kick: make(chan struct{}, 1), done: make(chan struct{})}
	r.probe(ctx)
	bg, stop := context.WithCancel(context.Background())
	r.stop = stop
	go r.loop(bg)
	return r, nil
}

// Close stops the background goroutine, gives back this process's leases and closes the
// connections.
func (r *Redis) Close() error {
	r.stop()
	<-r.done
	r.mu.Lock()
	held := r.leases
	r.leases = map[lease]struct{}{}
	r.mu.Unlock()
	if len(held) > 0 && r.up.Load() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		pipe := r.c.Pipeline()
		for l := range held {
			pipe.ZRem(ctx, l.key, l.id)
		}
		pipe.Exec(ctx)
		cancel()
	}
	return r.c.Close()
}

// loop probes Redis every second (or LeaseTTL/3 if shorter) and renews the held leases.
func (r *Redis) loop(ctx context.Context) {
	defer close(r.done)
	every := min(time.Second, r.leaseTTL/3)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		renew := false
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			renew = true
		case <-r.kick:
		}
		if r.probe(ctx) && renew {
			r.renew(ctx)
		}
	}
}

// probe pings Redis and records whether it answered.
func (r *Redis) probe(ctx context.Context) bool {
	pctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	err := r.c.Ping(pctx).Err()
	if ctx.Err() != nil {
		return false
	}
	r.record(err)
	return err == nil
}

// setUp records the outcome of a command: a failure marks the store down until a probe
// succeeds, and asks for one at once, so that one slow command on a loaded machine costs
// milliseconds of refusals, not a second.
func (r *Redis) setUp(err error) {
	if r.record(err) {
		return
	}
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// record marks the store up or down after a command or probe, and reports whether it is up.
func (r *Redis) record(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) {
		if !r.up.Swap(true) {
			r.log.Info("quota state store reachable")
		}
		return true
	}
	msg := err.Error()
	r.lastErr.Store(&msg)
	if r.up.Swap(false) {
		r.log.Error("quota state store unreachable: quotas fail as configured, the shared cache misses", "err", msg)
	}
	return false
}

// Check implements Quotas.
func (r *Redis) Check(context.Context) error {
	if r.up.Load() {
		return nil
	}
	msg := "never reached"
	if p := r.lastErr.Load(); p != nil {
		msg = *p
	}
	return fmt.Errorf("%w: %s", ErrStateUnavailable, msg)
}

// key names one of a tenant's keys. The tenant is a hash tag, so a tenant's keys share a slot
// on a Redis Cluster and one script may touch them all.
func (r *Redis) key(t, what string) string { return r.prefix + ":{" + t + "}:" + what }

// admitScript applies a tenant's quota window and then its rate (GCRA: the rate's "theoretical
// arrival time" is one number per tenant), taking from neither unless both admit. Times are
// microseconds of Redis's clock.
//
// KEYS[1] rate TAT, KEYS[2] quota hash {w: window index, n: count}
// ARGV[1] emission interval (µs; 0: no rate), ARGV[2] burst tolerance (µs),
// ARGV[3] quota (0: none), ARGV[4] quota window (ms)
// returns {admitted 0/1, wait µs, reason}
var admitScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local quota = tonumber(ARGV[3])
local win, idx = 0, 0
if quota > 0 then
  win = tonumber(ARGV[4]) * 1000
  idx = math.floor(now / win)
  local q = redis.call('HMGET', KEYS[2], 'w', 'n')
  if tonumber(q[1]) == idx and tonumber(q[2]) >= quota then
    return {0, (idx + 1) * win - now, 'quota'}
  end
end
local T = tonumber(ARGV[1])
if T > 0 then
  local tat = tonumber(redis.call('GET', KEYS[1]) or '0')
  if tat < now then tat = now end
  local nt = tat + T
  local allow = nt - tonumber(ARGV[2])
  if allow > now then
    return {0, allow - now, 'rate'}
  end
  redis.call('SET', KEYS[1], string.format('%.0f', nt), 'PX', math.ceil((nt - now) / 1000) + 1)
end
if quota > 0 then
  local q = redis.call('HGET', KEYS[2], 'w')
  if tonumber(q) ~= idx then
    redis.call('HSET', KEYS[2], 'w', string.format('%.0f', idx), 'n', 1)
  else
    redis.call('HINCRBY', KEYS[2], 'n', 1)
  end
  redis.call('PEXPIRE', KEYS[2], math.ceil(((idx + 1) * win - now) / 1000) + 1000)
end
return {1, 0, ''}
`)

// Admit implements Quotas.
func (r *Redis) Admit(ctx context.Context, t *Tenant) (Decision, error) {
	if t.rate <= 0 && t.quota <= 0 {
		return Decision{OK: true}, nil
	}
	if !r.up.Load() {
		return Decision{}, r.Check(ctx)
	}
	var interval, tau int64
	if t.rate > 0 {
		interval = int64(1e6 / t.rate)
		tau = interval * int64(max(t.burst, 1))
	}
	res, err := admitScript.Run(ctx, r.c, []string{r.key(t.name, "rate"), r.key(t.name, "quota")},
		interval, tau, t.quota, t.quotaWindow.Milliseconds()).Slice()
	r.setUp(err)
	if err != nil {
		return Decision{}, fmt.Errorf("%w: admit: %v", ErrStateUnavailable, err)
	}
	if len(res) != 3 {
		return Decision{}, fmt.Errorf("%w: admit: unexpected reply %v", ErrStateUnavailable, res)
	}
	ok, _ := res[0].(int64)
	wait, _ := res[1].(int64)
	reason, _ := res[2].(string)
	return Decision{OK: ok == 1, Reason: reason, Wait: time.Duration(wait) * time.Microsecond}, nil
}

// acquireScript takes a lease in a tenant's sorted set of leases (member: lease id, score: its
// expiry in ms of Redis's clock), after dropping the expired ones: those of a replica that died.
//
// KEYS[1] leases; ARGV[1] limit, ARGV[2] TTL (ms), ARGV[3] lease id
var acquireScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[2]))
return 1
`)

// renewScript pushes a held lease's expiry on; a lease already dropped (this replica stalled for
// longer than the TTL) is not taken again.
//
// KEYS[1] leases; ARGV[1] TTL (ms), ARGV[2] lease id
var renewScript = redis.NewScript(`
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local n = redis.call('ZADD', KEYS[1], 'XX', 'CH', now + tonumber(ARGV[1]), ARGV[2])
redis.call('PEXPIRE', KEYS[1], 2 * tonumber(ARGV[1]))
return n
`)

// Acquire implements Quotas.
func (r *Redis) Acquire(ctx context.Context, t *Tenant) (func(), bool, error) {
	if t.concurrency <= 0 {
		return func() {}, true, nil
	}
	if !r.up.Load() {
		return nil, false, r.Check(ctx)
	}
	var b [12]byte
	rand.Read(b[:])
	l := lease{key: r.key(t.name, "leases"), id: hex.EncodeToString(b[:])}
	n, err := acquireScript.Run(ctx, r.c, []string{l.key}, t.concurrency, r.leaseTTL.Milliseconds(), l.id).Int()
	r.setUp(err)
	if err != nil {
		return nil, false, fmt.Errorf("%w: acquire: %v", ErrStateUnavailable, err)
	}
	if n != 1 {
		return nil, false, nil
	}
	r.mu.Lock()
	r.leases[l] = struct{}{}
	r.mu.Unlock()
	return func() { r.release(l) }, true, nil
}

// release gives a lease back. When Redis cannot be told, the lease expires by itself.
func (r *Redis) release(l lease) {
	r.mu.Lock()
	delete(r.leases, l)
	r.mu.Unlock()
	if !r.up.Load() {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	r.setUp(r.c.ZRem(ctx, l.key, l.id).Err())
}

// renew extends every lease this process holds, in one round trip.
func (r *Redis) renew(ctx context.Context) {
	r.mu.Lock()
	held := make([]lease, 0, len(r.leases))
	for l := range r.leases {
		held = append(held, l)
	}
	r.mu.Unlock()
	if len(held) == 0 {
		return
	}
	rctx, cancel := context.WithTimeout(ctx, r.leaseTTL/3)
	defer cancel()
	pipe := r.c.Pipeline()
	for _, l := range held {
		// Eval, not Run: a pipeline cannot fall back from EVALSHA when Redis lost the script.
		renewScript.Eval(rctx, pipe, []string{l.key}, r.leaseTTL.Milliseconds(), l.id)
	}
	_, err := pipe.Exec(rctx)
	if err != nil && !errors.Is(err, redis.Nil) {
		r.log.Warn("renewing leases", "leases", len(held), "err", err.Error())
	}
}

var (
	stateUpDesc = prometheus.NewDesc("sgde_serve_state_up",
		"1 when the shared state store (Redis, --state) answers, 0 while it is considered down.", nil, nil)
	sharedCacheDesc = prometheus.NewDesc("sgde_serve_shared_cache_total",
		"Shared response cache (--cache-store redis) lookups and stores by result: hit, miss, error (unreachable or failed checksum), skipped (not stored: too large or store down).",
		[]string{"result"}, nil)
)

// Describe implements prometheus.Collector: a Server registers its Quotas when it is one.
func (r *Redis) Describe(ch chan<- *prometheus.Desc) {
	ch <- stateUpDesc
	ch <- sharedCacheDesc
}

// Collect implements prometheus.Collector.
func (r *Redis) Collect(ch chan<- prometheus.Metric) {
	up := 0.0
	if r.up.Load() {
		up = 1
	}
	ch <- prometheus.MustNewConstMetric(stateUpDesc, prometheus.GaugeValue, up)
	for _, c := range []struct {
		result string
		n      *atomic.Int64
	}{{"hit", &r.cacheHits}, {"miss", &r.cacheMisses}, {"error", &r.cacheErrs}, {"skipped", &r.cacheSkipped}} {
		ch <- prometheus.MustNewConstMetric(sharedCacheDesc, prometheus.CounterValue, float64(c.n.Load()), c.result)
	}
}
