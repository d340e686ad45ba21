package suite

import (
	"os"
	"testing"

	"github.com/sgde-project/sgde/internal/testcache"
)

// TestMain keeps what the tests build (modules, compilation caches) in one scratch directory
// that is removed at the end, never in the user's cache directory.
func TestMain(m *testing.M) { os.Exit(testcache.Main(m)) }
