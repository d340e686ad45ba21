package serve

import (
	"context"
	"net"
	"net/http"
	"sync"
	"time"
)

// Bounds on what a client that has not authenticated can hold (docs/SECURITY.md).
const (
	// DefaultMaxUnauthConns caps connections that have not yet carried an authenticated
	// request; further connections are closed as soon as they are accepted.
	DefaultMaxUnauthConns = 256
	// HeaderTimeout bounds the time a client takes to send a request's headers.
	HeaderTimeout = 10 * time.Second
	// DefaultBodyTimeout bounds the time an authenticated client takes to send a request's
	// body (Options.BodyTimeout).
	DefaultBodyTimeout = 30 * time.Second
)

// connGate admits at most max connections that have not carried an authenticated request. A
// connection takes a slot when accepted and gives it back when a request on it authenticates
// or when it closes; a connection accepted while every slot is taken is closed at once.
type connGate struct {
	slots chan struct{}
	mu    sync.Mutex
	held  map[net.Conn]bool
}

func newConnGate(max int) *connGate {
	return &connGate{slots: make(chan struct{}, max), held: map[net.Conn]bool{}}
}

type connKey struct{}

// connState is http.Server.ConnState.
func (g *connGate) connState(c net.Conn, st http.ConnState) {
	switch st {
	case http.StateNew:
		select {
		case g.slots <- struct{}{}:
			g.mu.Lock()
			g.held[c] = true
			g.mu.Unlock()
		default:
			_ = c.Close() // too many clients that have not shown a key
		}
	case http.StateClosed, http.StateHijacked:
		g.release(c)
	}
}

// release gives back c's slot, once.
func (g *connGate) release(c net.Conn) {
	g.mu.Lock()
	held := g.held[c]
	delete(g.held, c)
	g.mu.Unlock()
	if held {
		<-g.slots
	}
}

// connContext is http.Server.ConnContext: it lets a handler find its connection.
func (g *connGate) connContext(ctx context.Context, c net.Conn) context.Context {
	return context.WithValue(ctx, connKey{}, c)
}

// authenticated releases the slot of the connection r arrived on.
func (g *connGate) authenticated(r *http.Request) {
	if c, ok := r.Context().Value(connKey{}).(net.Conn); ok {
		g.release(c)
	}
}

// refuseBody marks a response sent without reading the request body (an unauthenticated or
// refused request): the connection closes after it instead of the server first reading what
// is left of the body to reuse the connection, which a client trickling its body could make
// last forever.
func refuseBody(w http.ResponseWriter, r *http.Request) {
	if r.ContentLength != 0 {
		w.Header().Set("Connection", "close")
	}
}

// bodyDeadline bounds the time left to read a request's body and returns the function that
// lifts the bound once the body is read: a read deadline left on the connection would end the
// request (net/http cancels its context) in the middle of a long plan run.
func bodyDeadline(w http.ResponseWriter, d time.Duration) func() {
	rc := http.NewResponseController(w)
	if rc.SetReadDeadline(time.Now().Add(d)) != nil {
		return func() {}
	}
	return func() { _ = rc.SetReadDeadline(time.Time{}) }
}
