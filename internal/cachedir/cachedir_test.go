package cachedir

import (
	"os"
	"path/filepath"
	"testing"
)

func TestRoot(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(Env, dir)
	if got, err := Root(); err != nil || got != dir {
		t.Errorf("Root() with %s set = %q, %v; want %q", Env, got, err, dir)
	}
	t.Setenv(Env, "")
	user, err := os.UserCacheDir()
	got, gerr := Root()
	if err != nil {
		if gerr == nil {
			t.Errorf("Root() = %q without a user cache directory", got)
		}
		return
	}
	if want := filepath.Join(user, "sgde"); gerr != nil || got != want {
		t.Errorf("Root() = %q, %v; want %q", got, gerr, want)
	}
}
