package cache

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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

// ErrCorrupt means a stored entry failed its checksum (or could not be read at all): its bytes
// are not what was written for its key. Callers treat it as a miss when they can ask the
// student again and as an error when they cannot (replay).
var ErrCorrupt = errors.New("response cache entry is corrupt")

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

// Entry is what is stored for one key. On disk it is preceded by the hex sha256 of the key and
// the entry's JSON, so that a flipped byte anywhere (a digit of an answer, or an entry moved to
// another key) is detected when read instead of silently changing results.
type Entry struct {
	Text         string    `json:"text"`
	FinishReason string    `json:"finish_reason,omitempty"`
	Usage        llm.Usage `json:"usage"`
	// Fingerprint is the endpoint's system_fingerprint (empty in entries stored before it was).
	Fingerprint string    `json:"system_fingerprint,omitempty"`
	Stored      time.Time `json:"stored"`
}

var bucketName = []byte("responses/v1")

// Cache is an open response store. It is safe for concurrent use.
type Cache struct {
	db         *bolt.DB
	movedAside string
	corruption error
}

// Open opens (creating if needed) the store at path. A second process holding the file makes
// Open fail after timeout instead of waiting forever.
//
// The whole file is checked first (bbolt's page consistency check): bbolt panics when it meets
// a corrupt page, so a damaged file is moved aside to PATH.corrupt-TIMESTAMP, an empty store
// is created in its place and MovedAside says where the old one went. A cache only saves
// requests, so starting afresh loses nothing that cannot be asked again.
func Open(path string, timeout time.Duration, opts ...Option) (*Cache, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return nil, fmt.Errorf("open response cache: %w", err)
	}
	bo := &bolt.Options{Timeout: timeout}
	for _, o := range opts {
		o(bo)
	}
	db, err := openChecked(path, bo)
	var corrupt *corruptFileError
	if !errors.As(err, &corrupt) {
		if err != nil {
			return nil, err
		}
		return &Cache{db: db}, nil
	}
	aside := fmt.Sprintf("%s.corrupt-%s", path, time.Now().UTC().Format("20060102T150405.000000000Z"))
	if rerr := os.Rename(path, aside); rerr != nil {
		return nil, fmt.Errorf("%w (and it cannot be moved aside: %v)", err, rerr)
	}
	db, err = openChecked(path, bo)
	if err != nil {
		return nil, err
	}
	return &Cache{db: db, movedAside: aside, corruption: corrupt.cause}, nil
}

// Option adjusts how Open opens the store.
type Option func(*bolt.Options)

// WithMaxSize caps the database file at n bytes: a Put that would grow it further fails, as on
// a full disk.
func WithMaxSize(n int) Option { return func(o *bolt.Options) { o.MaxSize = n } }

// corruptFileError says the database file failed bbolt's consistency check or made it panic.
type corruptFileError struct {
	path  string
	cause error
}

func (e *corruptFileError) Error() string {
	return fmt.Sprintf("open response cache %s: the file is corrupt: %v", e.path, e.cause)
}

// openChecked opens the database and checks every page, turning bbolt's panics into errors.
func openChecked(path string, bo *bolt.Options) (db *bolt.DB, err error) {
	defer func() {
		if r := recover(); r != nil {
			if db != nil {
				db.Close()
			}
			db, err = nil, &corruptFileError{path: path, cause: fmt.Errorf("%v", r)}
		}
	}()
	db, err = bolt.Open(path, 0o644, bo)
	if errors.Is(err, bolterrors.ErrTimeout) {
		return nil, fmt.Errorf("open response cache %s: another process holds it (wait for it, or give this one its own cache file): %w", path, err)
	}
	if errors.Is(err, bolterrors.ErrInvalid) || errors.Is(err, bolterrors.ErrChecksum) || errors.Is(err, bolterrors.ErrVersionMismatch) {
		return nil, &corruptFileError{path: path, cause: err}
	}
	if err != nil {
		return nil, fmt.Errorf("open response cache %s: %w", path, err)
	}
	var problems []error
	if err := db.View(func(tx *bolt.Tx) error {
		for e := range tx.Check() {
			if len(problems) < 3 {
				problems = append(problems, e)
			}
		}
		return nil
	}); err != nil {
		problems = append(problems, err)
	}
	if len(problems) > 0 {
		db.Close()
		return nil, &corruptFileError{path: path, cause: errors.Join(problems...)}
	}
	if err := db.Update(func(tx *bolt.Tx) error {
		_, err := tx.CreateBucketIfNotExists(bucketName)
		return err
	}); err != nil {
		db.Close()
		return nil, fmt.Errorf("open response cache %s: %w", path, err)
	}
	return db, nil
}

// MovedAside is where Open moved a corrupt database file before starting an empty one, and
// why; it is "" when the file was sound. Callers should say so loudly.
func (c *Cache) MovedAside() (path string, why error) { return c.movedAside, c.corruption }

// Get returns the entry for key; ok is false on a miss. An entry that fails its checksum is an
// error wrapping ErrCorrupt.
func (c *Cache) Get(key string) (e Entry, ok bool, err error) {
	err = c.db.View(func(tx *bolt.Tx) (err error) {
		defer func() {
			// bbolt panics on some corrupt pages; damage after Open must not crash the process.
			if r := recover(); r != nil {
				err = fmt.Errorf("%w: %v", ErrCorrupt, r)
			}
		}()
		v := tx.Bucket(bucketName).Get([]byte(key))
		if v == nil {
			return nil
		}
		ok = true
		e, err = decode(key, v)
		return err
	})
	if err != nil {
		return Entry{}, false, fmt.Errorf("response cache get %s: %w", key, err)
	}
	return e, ok, nil
}

// Put stores e under key, replacing what was there.
func (c *Cache) Put(key string, e Entry) error {
	v, err := encode(key, e)
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

// sumLen is the length of the hex checksum that starts every stored value.
const sumLen = 2 * sha256.Size

// encode stores the checksum of key and the entry's JSON, a newline, then the JSON: the check
// is over the bytes written, so it does not depend on the JSON round-tripping exactly.
func encode(key string, e Entry) ([]byte, error) {
	j, err := json.Marshal(e)
	if err != nil {
		return nil, err
	}
	v := make([]byte, 0, sumLen+1+len(j))
	v = append(v, checksum(key, j)...)
	v = append(v, '\n')
	return append(v, j...), nil
}

func decode(key string, v []byte) (Entry, error) {
	if len(v) < sumLen+1 || v[sumLen] != '\n' {
		return Entry{}, fmt.Errorf("%w: no checksum (written by an older sgde, or damaged)", ErrCorrupt)
	}
	j := v[sumLen+1:]
	if checksum(key, j) != string(v[:sumLen]) {
		return Entry{}, fmt.Errorf("%w: checksum mismatch", ErrCorrupt)
	}
	var e Entry
	if err := json.Unmarshal(j, &e); err != nil {
		return Entry{}, fmt.Errorf("%w: %v", ErrCorrupt, err)
	}
	return e, nil
}

func checksum(key string, content []byte) string {
	h := sha256.New()
	h.Write([]byte(key))
	h.Write([]byte{0})
	h.Write(content)
	return hex.EncodeToString(h.Sum(nil))
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

// WarnMovedAside says loudly on w that the database at path was corrupt and was replaced by an
// empty one; it prints nothing when the file was sound. Every command that opens a cache calls
// it, so that lost responses are never silent.
func (c *Cache) WarnMovedAside(w io.Writer, path string) {
	if aside, why := c.MovedAside(); aside != "" {
		fmt.Fprintf(w, "WARNING: response cache %s was corrupt (%v); it was moved to %s and an empty cache started\n", path, why, aside)
	}
}
