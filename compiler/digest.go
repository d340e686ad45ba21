package compiler

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"

	"github.com/sgde-project/sgde/runtime"
)

// DigestItems is a digest of items (ids, inputs, labels) for provenance and resume checks.
func DigestItems(items []runtime.Item) string {
	h := sha256.New()
	enc := json.NewEncoder(h)
	for _, it := range items {
		_ = enc.Encode(it) // encoding of decoded JSON cannot fail
	}
	return "sha256:" + hex.EncodeToString(h.Sum(nil))
}
