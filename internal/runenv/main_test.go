package runenv

import (
	"os"
	"testing"

	"github.com/sgde-project/sgde/internal/testcache"
)

func TestMain(m *testing.M) { os.Exit(testcache.Main(m)) }
