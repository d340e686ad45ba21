package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	bolt "go.etcd.io/bbolt"
	bolterrors "go.etcd.io/bbolt/errors"

	"github.com/sgde-project/sgde/runtime/llm"
)

// Mode says how the runtime uses the cache.
type Mode string

// The cache modes.
const (
	// ModeUse reads hits and stores misses.
	ModeUse Mode = "use"
	// ModeRefresh ignores hits, calls the student, and overwrites what is stored.
	ModeRefresh Mode = "refresh"
	// ModeOff neither reads nor writes.
	ModeOff Mode = "off"
	// ModeReplay reads hits and treats a miss as an error (ErrMiss): nothing reaches the student.
	ModeReplay Mode = "replay"
)

// ParseMode reads a mode name as given on the command line.
func ParseMode(s string) (Mode, error) {
	switch m := Mode(s); m {
	case ModeUse, ModeRefresh, ModeOff, ModeReplay:
		return m, nil
	case "replay-only":
		return ModeReplay, nil
	}
	return "", fmt.Errorf("unknown cache mode %q (want use, refresh, off or replay)", s)
}

// ErrMiss is returned in replay mode when a response is not in the cache.
var ErrMiss = errors.New("response not in cache (replay mode)")

// KeyParts is everything that determines a student response. Two requests share a cache entry
// exactly when their KeyParts are equal.
type KeyParts struct {
	// Model names the model. The endpoint URL is deliberately not part of the key: the same
	// model served elsewhere answers the same way.
	Model    string        `json:"model"`
	Messages []llm.Message `json:"messages"`
	Sampling llm.Sampling  `json:"sampling"`
	// Schema is the response schema sent (it can change the reply).
	Schema map[string]any `json:"schema,omitempty"`
	// Sample is the consensus sample index, so that N samples with equal prompts stay distinct.
	Sample int `json:"sample"`
	// Attempt is the retry index after a parse failure, so that a retry is a new draw.
	Attempt int `json:"attempt"`
}

// Key is the hex sha256 of the canonical JSON of p (encoding/json sorts map keys and the struct
// order is fixed, so equal parts give equal bytes).
func Key(p KeyParts) string {
	b, err := json.Marshal(p)
	if err != nil {
		// Schema holds only JSON-decoded values; a failure here is a programming error.
		panic(fmt.Sprintf("cache key: %v", err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// Entry is what is stored for one key.
type Entry struct {
	Text         string    `json:"text"`
	FinishReason string    `json:"finish_reason,omitempty"`
	Usage        llm.Usage `json:"usage"`
	Stored       time.Time `json:"stored"`
}

var bucketName = []byte("responses/v1")

// Cache is an open response store. It is safe for concurrent use.
type Cache struct {
	db *bolt.DB
}

// Open opens (creating if needed) the store at path. A second process holding the file makes
// Open fail after timeout instead of waiting forever.
func Open(path string, timeout time.Duration) (*Cache, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open response cache: %w", err)
	}
	db, err := bolt.Open(path, 0o644, &bolt.Options{Timeout: timeout})
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open response cache %s: another process holds it (wait for it, or give this one its own cache file): %w", path, err)
	}
	if err != nil {
		return nil, fmt.Errorf("open response cache %s: %w", path, err)
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open response cache %s: %w", path, err)
	}
	return &Cache{db: db}, nil
}

// Get returns the entry for key; ok is false on a miss.
func (c *Cache) Get(key string) (e Entry, ok bool, err error) {
	err = c.db.View(func(tx *bolt.Tx) error {
		v := tx.Bucket(bucketName).Get([]byte(key))
		if v == nil {
			return nil
		}
		ok = true
		return json.Unmarshal(v, &e)
	})
	if err != nil {
		return Entry{}, false, fmt.Errorf("response cache get %s: %w", key, err)
	}
	return e, ok, nil
}

// Put stores e under key, replacing what was there.
func (c *Cache) Put(key string, e Entry) error {
	v, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("response cache put: %w", err)
	}
	// Batch coalesces concurrent puts into one transaction (one fsync) without giving up
	// durability: Put returns only after its entry is committed.
	if err := c.db.Batch(func(tx *bolt.Tx) error {
		return tx.Bucket(bucketName).Put([]byte(key), v)
	}); err != nil {
		return fmt.Errorf("response cache put %s: %w", key, err)
	}
	return nil
}

// Len is the number of stored entries.
func (c *Cache) Len() (int, error) {
	n := 0
	err := c.db.View(func(tx *bolt.Tx) error {
		n = tx.Bucket(bucketName).Stats().KeyN
		return nil
	})
	return n, err
}

// Close closes the store.
func (c *Cache) Close() error { return c.db.Close() }
