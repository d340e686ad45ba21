package serve

import (
	"bytes"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/sgde-project/sgde/plans"
)

// MaxTenantsFileBytes bounds the tenants file.
const MaxTenantsFileBytes = 1 << 20

// ErrTenants matches every error that says a tenants file is malformed.
var ErrTenants = errors.New("invalid tenants file")

// tenantName is what a tenant may be called: it appears in file names, metric labels and logs.
var tenantName = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,62}$`)

// Tenant is one client organisation: its keys, grants, quotas and ceilings. It is immutable
// once loaded.
type Tenant struct {
	name        string
	keys        [][sha256.Size]byte
	plans       map[string]bool // nil: every plan ("*")
	rate        float64         // requests per second; 0: unlimited
	burst       int
	concurrency int
	quota       int64         // requests per quotaWindow; 0: unlimited
	quotaWindow time.Duration // aligned on the Unix epoch
	fuel        *uint64
	memoryMiB   *uint32
}

// Name returns the tenant's name.
func (t *Tenant) Name() string { return t.name }

// Grants reports whether the tenant may call the plan called name.
func (t *Tenant) Grants(name string) bool { return t.plans == nil || t.plans[name] }

// Tenants is a loaded tenants file.
type Tenants struct {
	list   []*Tenant
	byHash map[[sha256.Size]byte]*Tenant
}

// HashKey returns the hex sha256 of an API key: the form the tenants file stores.
func HashKey(key string) string {
	sum := sha256.Sum256([]byte(key))
	return hex.EncodeToString(sum[:])
}

// Authenticate returns the tenant owning key, or nil. The presented key is hashed first, so the
// lookup's timing depends only on the hash of a high-entropy secret, and the stored hash is
// compared in constant time.
func (ts *Tenants) Authenticate(key string) *Tenant {
	if key == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(key))
	t := ts.byHash[sum]
	if t == nil {
		return nil
	}
	for _, k := range t.keys {
		if subtle.ConstantTimeCompare(k[:], sum[:]) == 1 {
			return t
		}
	}
	return nil
}

// Len returns the number of tenants.
func (ts *Tenants) Len() int { return len(ts.list) }

// tenantsFile is the YAML form of a tenants file.
type tenantsFile struct {
	Tenants []struct {
		Name string `yaml:"name"`
		Keys []struct {
			SHA256 string `yaml:"sha256"`
		} `yaml:"keys"`
		Plans []string `yaml:"plans"`
		Rate  struct {
			RequestsPerSecond float64 `yaml:"requests_per_second"`
			Burst             int     `yaml:"burst"`
		} `yaml:"rate"`
		Concurrency int `yaml:"concurrency"`
		Quota       struct {
			Requests int64  `yaml:"requests"`
			Window   string `yaml:"window"`
		} `yaml:"quota"`
		Limits struct {
			Fuel      *uint64 `yaml:"fuel"`
			MemoryMiB *uint32 `yaml:"memory_mib"`
		} `yaml:"limits"`
	} `yaml:"tenants"`
}

// LoadTenants reads and checks the tenants file at path.
func LoadTenants(path string) (*Tenants, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, MaxTenantsFileBytes+1))
	if err != nil {
		return nil, fmt.Errorf("read tenants file %s: %w", path, err)
	}
	if len(b) > MaxTenantsFileBytes {
		return nil, fmt.Errorf("%s: %w: larger than %d bytes", path, ErrTenants, MaxTenantsFileBytes)
	}
	ts, err := ParseTenants(b)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ts, nil
}

// ParseTenants decodes and checks a tenants file. Decoding is strict: unknown fields are errors,
// so a misspelt quota is not silently unlimited. Every problem is reported, one per line.
func ParseTenants(data []byte) (*Tenants, error) {
	var tf tenantsFile
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(&tf); err != nil {
		return nil, fmt.Errorf("%w: %v", ErrTenants, err)
	}
	var probs []string
	bad := func(format string, args ...any) { probs = append(probs, fmt.Sprintf(format, args...)) }
	ts := &Tenants{byHash: map[[sha256.Size]byte]*Tenant{}}
	names := map[string]bool{}
	if len(tf.Tenants) == 0 {
		bad("no tenants")
	}
	for i, c := range tf.Tenants {
		where := fmt.Sprintf("tenants[%d]", i)
		if !tenantName.MatchString(c.Name) {
			bad("%s: name %q must be 1-63 of a-z, 0-9, _ and -, starting with a letter or digit", where, c.Name)
		} else if names[c.Name] {
			bad("%s: tenant %q is declared twice", where, c.Name)
		} else {
			where = fmt.Sprintf("tenant %q", c.Name)
		}
		names[c.Name] = true
		t := &Tenant{name: c.Name, rate: c.Rate.RequestsPerSecond, burst: c.Rate.Burst, concurrency: c.Concurrency,
			fuel: c.Limits.Fuel, memoryMiB: c.Limits.MemoryMiB}
		if len(c.Keys) == 0 {
			bad("%s: no keys", where)
		}
		for j, k := range c.Keys {
			raw, err := hex.DecodeString(strings.TrimPrefix(strings.ToLower(k.SHA256), "sha256:"))
			if err != nil || len(raw) != sha256.Size {
				bad("%s: keys[%d].sha256 must be 64 hex digits (the output of sgde serve hash-key)", where, j)
				continue
			}
			var h [sha256.Size]byte
			copy(h[:], raw)
			if _, dup := ts.byHash[h]; dup {
				bad("%s: keys[%d] is already the key of a tenant", where, j)
				continue
			}
			ts.byHash[h] = t
			t.keys = append(t.keys, h)
		}
		if len(c.Plans) == 0 {
			bad("%s: no plans granted (list plan names, or \"*\" for all)", where)
		}
		t.plans = map[string]bool{}
		for _, p := range c.Plans {
			if p == "*" {
				t.plans = nil
				break
			}
			t.plans[p] = true
		}
		if c.Rate.RequestsPerSecond < 0 || c.Rate.Burst < 0 {
			bad("%s: rate must not be negative", where)
		}
		if c.Rate.RequestsPerSecond > 0 && c.Rate.Burst == 0 {
			t.burst = 1
		}
		if c.Concurrency < 0 {
			bad("%s: concurrency must not be negative", where)
		}
		if c.Quota.Requests != 0 || c.Quota.Window != "" {
			w, err := time.ParseDuration(c.Quota.Window)
			switch {
			case c.Quota.Requests <= 0:
				bad("%s: quota.requests must be positive", where)
			case err != nil || w < time.Second || w > 31*24*time.Hour:
				bad("%s: quota.window must be a duration from 1s to 744h (e.g. 24h), got %q", where, c.Quota.Window)
			default:
				t.quota, t.quotaWindow = c.Quota.Requests, w
			}
		}
		if f := c.Limits.Fuel; f != nil && (*f == 0 || *f > plans.MaxFuel) {
			bad("%s: limits.fuel must be 1..%d", where, uint64(plans.MaxFuel))
		}
		if m := c.Limits.MemoryMiB; m != nil && (*m < plans.MinMemoryMiB || *m > plans.MaxMemoryMiB) {
			bad("%s: limits.memory_mib must be %d..%d", where, plans.MinMemoryMiB, plans.MaxMemoryMiB)
		}
		ts.list = append(ts.list, t)
	}
	if len(probs) > 0 {
		return nil, fmt.Errorf("%w:\n  %s", ErrTenants, strings.Join(probs, "\n  "))
	}
	return ts, nil
}
