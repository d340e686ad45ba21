package cache

// Store is what the runtime needs of a response store. There are two: *Cache, a bbolt file of
// one process, and the Redis store that sgde serve replicas share (internal/serve).
//
// # Notes
//
//   - Get reports an entry that fails its checksum as an error wrapping ErrCorrupt; the runtime
//     treats it as a miss in use mode.
//   - A store that cannot be reached should answer misses and drop puts rather than fail calls:
//     a cache outage must cost student calls, not answers.
type Store interface {
	Get(key string) (e Entry, ok bool, err error)
	Put(key string, e Entry) error
}

var _ Store = (*Cache)(nil)

// Encode returns the stored form of e under key: the checksum of key and the entry's JSON, a
// newline, then the JSON. Other stores use it so that every store checks entries alike.
func Encode(key string, e Entry) ([]byte, error) { return encode(key, e) }

// Decode checks and decodes a value Encode made for key; damage is an error wrapping ErrCorrupt.
func Decode(key string, v []byte) (Entry, error) { return decode(key, v) }
