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

// BuildWaiters returns how many callers wait for the build of each source digest in progress,
// so that tests can tell when every waiter has joined.
func BuildWaiters(r *Runner) map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for k, e := range r.modules {
		select {
		case <-e.done:
		default:
			out[k] = e.waiters
		}
	}
	return out
}
