package serve

import (
	"context"
	"fmt"
	"sync"

	"github.com/sgde-project/sgde/runtime"
	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
)

// PoolOptions configures a Pool. Every function is called under the pool's lock, once per
// tenant, when the tenant's first runner is made.
type PoolOptions struct {
	// Runner is the base of every runner's options (cache mode, model, concurrency); the pool
	// fills in the tenant's cache and student.
	Runner runtime.Options
	// OpenCache opens a tenant's response cache and returns the function that closes it (nil:
	// nothing to close). Nil means no cache.
	OpenCache func(tenant string) (store cache.Store, closeStore func(), err error)
	// NewStudent makes a tenant's student client. Nil means no student.
	NewStudent func() (*llm.Client, error)
	// NewRunner assembles a runner for engine from opts (the base with the tenant's cache and
	// student); release closes what it built, not the cache or the client.
	NewRunner func(ctx context.Context, opts runtime.Options, engine string) (r *runtime.Runner, release func(), err error)
	// DefaultEngine is the engine of a runner asked for with engine "".
	DefaultEngine string
}

// Pool is the RunnerFactory of sgde serve: each tenant's response cache and student client are
// opened with its first runner, shared by its runners of every engine (one bbolt file cannot be
// opened twice), and closed with its last. Runners themselves are never shared between tenants.
type Pool struct {
	opts    PoolOptions
	mu      sync.Mutex
	tenants map[string]*tenantParts
}

// tenantParts are a tenant's cache and client, reference-counted by its live runners.
type tenantParts struct {
	refs       int
	store      cache.Store
	closeStore func()
	client     *llm.Client
}

// NewPool returns an empty pool.
func NewPool(opts PoolOptions) *Pool {
	return &Pool{opts: opts, tenants: map[string]*tenantParts{}}
}

// Runner builds tenant's runner for engine; it has the RunnerFactory signature. release closes
// the runner and, with the tenant's last runner, its cache.
func (p *Pool) Runner(ctx context.Context, tenant, engine string) (_ *runtime.Runner, release func(), err error) {
	if engine == "" {
		engine = p.opts.DefaultEngine
	}
	tp, err := p.acquire(tenant)
	if err != nil {
		return nil, nil, fmt.Errorf("tenant %s: %w", tenant, err)
	}
	opts := p.opts.Runner
	if tp.store != nil {
		opts.Cache = tp.store
	}
	if tp.client != nil {
		opts.Student = tp.client
	}
	r, closeRunner, err := p.opts.NewRunner(ctx, opts, engine)
	if err != nil {
		p.drop(tenant)
		return nil, nil, err
	}
	return r, func() {
		closeRunner()
		p.drop(tenant)
	}, nil
}

func (p *Pool) acquire(tenant string) (*tenantParts, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tp := p.tenants[tenant]
	if tp == nil {
		tp = &tenantParts{}
		if p.opts.OpenCache != nil {
			var err error
			if tp.store, tp.closeStore, err = p.opts.OpenCache(tenant); err != nil {
				return nil, err
			}
		}
		if p.opts.NewStudent != nil {
			client, err := p.opts.NewStudent()
			if err != nil {
				if tp.closeStore != nil {
					tp.closeStore()
				}
				return nil, err
			}
			tp.client = client
		}
		p.tenants[tenant] = tp
	}
	tp.refs++
	return tp, nil
}

func (p *Pool) drop(tenant string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	tp := p.tenants[tenant]
	if tp.refs--; tp.refs == 0 {
		if tp.closeStore != nil {
			tp.closeStore()
		}
		delete(p.tenants, tenant)
	}
}

// Tenants is the number of tenants with a live runner (their caches are open).
func (p *Pool) Tenants() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.tenants)
}
