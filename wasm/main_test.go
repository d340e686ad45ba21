package wasm

import (
	"os"
	"testing"

	"github.com/sgde-project/sgde/internal/fakego"
	"github.com/sgde-project/sgde/internal/testcache"
)

// TestMain keeps what the tests build (modules, compilation caches) in one scratch directory
// that is removed at the end, never in the user's cache directory.
// A fake go command may run the binary as a memory hog (fakego.InstallHog).
func TestMain(m *testing.M) {
	fakego.RunHog()
	os.Exit(testcache.Main(m))
}
