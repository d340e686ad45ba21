//go:build !unix

package runtime

import "os"

// lockResults is a no-op where flock is unavailable.
func lockResults(*os.File) error { return nil }
