// Package testcache gives a test binary one scratch directory for what its tests build and
// compile (WebAssembly modules, wazero compilation caches), so that tests never write to the
// user's cache directory and leave nothing behind in $TMPDIR.
//
// A package whose tests build code nodes runs them through Main. `make test` creates one such
// directory for the whole run (SGDE_TEST_CACHE), so the packages share their builds, and removes
// it at the end; a plain `go test` gets a private directory removed when the binary exits.
// It must not be imported by code that ships in the binary.
package testcache

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Env names the directory shared by every test binary of a run. Whoever sets it removes it.
const Env = "SGDE_TEST_CACHE"

// Main runs m with the sgde caches (SGDE_CACHE_DIR) in the run's scratch directory, creating
// and afterwards removing a private one when Env is unset, and returns m's exit code:
//
//	func TestMain(m *testing.M) { os.Exit(testcache.Main(m)) }
//
// Code-node builds use the go command's own build cache (SGDE_GOCACHE = `go env GOCACHE`, the
// cache `go test` has just compiled the test binary into): it is content-addressed and trimmed
// by Go (so SGDE_GOCACHE_MAX_BYTES is 0: sgde does not bound it), and compiling the wasip1
// standard library into a fresh cache costs half a minute per test binary.
func Main(m *testing.M) int {
	root := os.Getenv(Env)
	created := false
	if root == "" {
		dir, err := os.MkdirTemp("", "sgde-test-cache-")
		if err != nil {
			panic("testcache: " + err.Error())
		}
		root, created = dir, true
		os.Setenv(Env, root)
	}
	os.Setenv("SGDE_CACHE_DIR", root) // the CLI's caches (artifacts, wazero) are the tests' own
	if os.Getenv("SGDE_GOCACHE") == "" {
		if out, err := exec.Command("go", "env", "GOCACHE").Output(); err == nil {
			if d := strings.TrimSpace(string(out)); d != "" && d != "off" {
				os.Setenv("SGDE_GOCACHE", d)
			}
		}
	}
	if os.Getenv("SGDE_GOCACHE") != "" && os.Getenv("SGDE_GOCACHE_MAX_BYTES") == "" {
		// Its owner (the go command) trims it; sgde's bound (4 GiB) would evict the machine's
		// shared Go cache (15 GB on the development box) test by test.
		os.Setenv("SGDE_GOCACHE_MAX_BYTES", "0")
	}
	code := m.Run()
	if created {
		// Module caches are written read-only; make them removable first.
		_ = filepath.WalkDir(root, func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				_ = os.Chmod(p, 0o700)
			}
			return nil
		})
		if err := os.RemoveAll(root); err != nil {
			println("testcache: remove", root+":", err.Error())
		}
	}
	return code
}

// Dir returns the directory name under the run's scratch directory, created. It panics
// outside Main: a test binary that builds code nodes must run through Main, or its caches would
// land in the user's cache directory or outlive the run.
func Dir(name string) string {
	root := os.Getenv(Env)
	if root == "" {
		panic("testcache.Dir(" + name + ") outside testcache.Main: add func TestMain(m *testing.M) { os.Exit(testcache.Main(m)) }")
	}
	d := filepath.Join(root, name)
	if err := os.MkdirAll(d, 0o700); err != nil {
		panic("testcache: " + err.Error())
	}
	return d
}
