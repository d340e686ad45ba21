//go:build unix

package runtime

import (
	"errors"
	"fmt"
	"os"
	"syscall"
)

// lockResults takes an exclusive advisory lock on the results file so that two evals never
// append to the same file; the lock goes with the file descriptor.
func lockResults(f *os.File) error {
	err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
	if errors.Is(err, syscall.EWOULDBLOCK) {
		return fmt.Errorf("results file %s is in use by another eval", f.Name())
	}
	return err
}
