package wasm

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/sgde-project/sgde/internal/atomicfile"
	"github.com/sgde-project/sgde/internal/cachedir"
)

// The artefact cache maps a key (source, SDK, toolchain and flags) to a module. Each entry is one
// file, "sgde-artifact 1 sha256:<hex> <len>\n" followed by the module, written to a temporary
// file and renamed into place, so readers never see a partial entry and concurrent writers of the
// same key simply replace identical content. An entry whose digest does not match is removed and
// rebuilt.

const cacheMagic = "sgde-artifact 1 "

func cacheKey(sourceDigest, sdkDigest, toolchainVersion, toolchain string, flags []string) string {
	h := sha256.New()
	for _, s := range []string{"sgde-artifact-key/1", sourceDigest, sdkDigest, toolchainVersion, toolchain, "GOOS=wasip1 GOARCH=wasm CGO_ENABLED=0", strings.Join(flags, "\x1f")} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	return hex.EncodeToString(h.Sum(nil))
}

func cachePath(dir, key string) string {
	return filepath.Join(dir, key[:2], key+".wasm")
}

// readCache returns the module cached under key and its digest, verified against the module's
// bytes, or false when there is none or it is corrupt.
func readCache(dir, key string) (wasm []byte, sum string, ok bool) {
	p := cachePath(dir, key)
	data, err := os.ReadFile(p)
	if err != nil {
		return nil, "", false
	}
	wasm, sum, ok = decodeEntry(data)
	if !ok {
		_ = os.Remove(p)
		return nil, "", false
	}
	return wasm, sum, true
}

// decodeEntry checks an entry and returns its module and digest. The digest is computed once,
// here: a cache hit must not hash a multi-megabyte module twice.
func decodeEntry(data []byte) (wasm []byte, sum string, ok bool) {
	nl := bytes.IndexByte(data, '\n')
	if nl < 0 || !bytes.HasPrefix(data, []byte(cacheMagic)) {
		return nil, "", false
	}
	fields := strings.Fields(string(data[len(cacheMagic):nl]))
	if len(fields) != 2 {
		return nil, "", false
	}
	n, err := strconv.Atoi(fields[1])
	wasm = data[nl+1:]
	if err != nil || n != len(wasm) {
		return nil, "", false
	}
	if sum = digest(wasm); sum != fields[0] {
		return nil, "", false
	}
	return wasm, sum, true
}

func writeCache(dir, key string, wasm []byte) error {
	p := cachePath(dir, key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	return atomicfile.WriteFunc(p, 0o600, func(w io.Writer) error {
		if _, err := fmt.Fprintf(w, "%s%s %d\n", cacheMagic, digest(wasm), len(wasm)); err != nil {
			return err
		}
		_, err := w.Write(wasm)
		return err
	})
}

// touch marks a cache file as just used, so that trimDir evicts it last.
func touch(p string) {
	now := time.Now()
	_ = os.Chtimes(p, now, now)
}

// DefaultCompileCacheMaxBytes bounds a sandbox engine's compilation cache (TrimCache).
const DefaultCompileCacheMaxBytes = 2 << 30

// TrimCache removes the least recently modified files of a cache directory whose entries are
// all optional (a missing file is a miss), such as an engine's compilation cache, until it takes
// at most maxBytes.
func TrimCache(dir string, maxBytes int64) { trimDir(dir, maxBytes) }

// trimDir removes the least recently modified files under dir until it takes at most maxBytes
// (cachedir.Trim).
func trimDir(dir string, maxBytes int64) { cachedir.Trim(dir, maxBytes) }
