package runtime

import "io"

// SetResultsWrapper makes every results file Eval opens write through wrap (nil: directly),
// so that tests can fail writes at a chosen moment. It returns a function restoring the
// previous wrapper.
func SetResultsWrapper(wrap func(io.Writer) io.Writer) (restore func()) {
	old := wrapResults
	wrapResults = wrap
	return func() { wrapResults = old }
}
