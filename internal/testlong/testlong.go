// Package testlong holds the one switch between the fast suite (`make test`, at most ten
// minutes from a fresh clone) and the exhaustive one (`make test-long`).
//
// A test that takes more than about ten seconds on the 2-core reference machine calls Skip
// first; `make test-long` sets SGDE_TEST_LONG=1 and runs it. It must not be imported by code
// that ships in the binary.
package testlong

import (
	"os"
	"testing"
)

// Env is the environment variable `make test-long` sets. The variable, not this package, is the
// contract: a test may also check os.Getenv(Env) directly.
const Env = "SGDE_TEST_LONG"

// Enabled reports whether the long suites were asked for (Env is set to a non-empty value).
func Enabled() bool { return os.Getenv(Env) != "" }

// Skip skips t unless the long suites were asked for. why says what makes the test long (for
// example "the full GSM-Hard sweep, 1,319 questions"); it is printed with the skip.
func Skip(t testing.TB, why string) {
	t.Helper()
	if !Enabled() {
		t.Skipf("long (%s): run with make test-long or %s=1", why, Env)
	}
}
