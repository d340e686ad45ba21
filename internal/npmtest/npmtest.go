// Package npmtest installs the official openai npm client, pinned by a lockfile, for the tests
// that check sgde's OpenAI-compatible servers against it. It is test support only: nothing in
// sgde's binaries imports it.
package npmtest

import (
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/testcache"
)

//go:embed npm/package.json npm/package-lock.json
var manifest embed.FS

// OpenAIClient returns a folder whose node_modules holds the pinned openai client, and the path
// of node. The install lives in the test run's scratch directory (internal/testcache; the
// caller's TestMain must use testcache.Main), keyed by the lockfile's hash, so it is made once
// per `make test` and never in the user's cache directory. It skips t where node or npm is
// missing.
//
// Several test processes may call it at once (go test runs packages in parallel): each installs
// into a private folder and renames it into place, so nobody ever sees a half-installed client.
func OpenAIClient(t testing.TB) (dir, node string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping the official openai npm client test (install node >= 20 and npm to run it)")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed: skipping the official openai npm client test")
	}
	lock, err := manifest.ReadFile("npm/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	root := testcache.Dir("npm")
	dir = filepath.Join(root, "openai-npm-"+hex.EncodeToString(sum[:8]))
	if installed(dir) {
		return dir, node
	}
	if err := os.MkdirAll(root, 0o755); err != nil {
		t.Fatal(err)
	}
	tmp, err := os.MkdirTemp(root, ".openai-npm-*")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(tmp) // a no-op once renamed into place
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := manifest.ReadFile("npm/" + f)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(tmp, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = tmp
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci: %v\n%s", err, out)
	}
	if err := os.Rename(tmp, dir); err != nil && !installed(dir) {
		t.Fatalf("install the openai npm client: %v", err)
	}
	return dir, node
}

func installed(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json"))
	return err == nil
}

// Script copies the script at path into dir under a fresh name, so that `import "openai"`
// resolves to dir's node_modules, and removes it when t ends. Unique names let several tests
// share one install at once.
func Script(t testing.TB, dir, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.CreateTemp(dir, "script-*.mjs")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(f.Name()) })
	if _, err := f.Write(b); err != nil {
		f.Close()
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return f.Name()
}
