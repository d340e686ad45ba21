package serve

import (
	"bufio"
	"context"
	"net"
	"net/http"
	"testing"
	"time"
)

// serveOn serves s on a loopback listener until the test ends and returns its address.
func serveOn(t *testing.T, s *Server) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() { cancel(); <-done })
	return ln.Addr().String()
}

// readStatus reads one response's status line from c within d, or returns an error.
func readStatus(c net.Conn, d time.Duration) (int, error) {
	_ = c.SetReadDeadline(time.Now().Add(d))
	resp, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// TestSlowClients: clients that trickle a body or never authenticate hold nothing for long.
// Unauthenticated requests are answered 401 from their headers, without waiting for a body the
// client is still sending; an authenticated client that trickles its body is cut off at
// BodyTimeout; connections beyond MaxUnauthConns that have not authenticated are closed.
func TestSlowClients(t *testing.T) {
	factory, _ := realFactory(t)
	s := newTestServer(t, Options{NewRunner: factory, BodyTimeout: 300 * time.Millisecond, MaxUnauthConns: 60})
	addr := serveOn(t, s)
	dial := func() net.Conn {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}
	header := func(auth string) string {
		return "POST /v1/plans/shout/run HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n" + auth + "\r\n{"
	}

	t.Run("unauthenticated trickle", func(t *testing.T) {
		conns := make([]net.Conn, 50)
		for i := range conns {
			conns[i] = dial()
			if _, err := conns[i].Write([]byte(header(""))); err != nil {
				t.Fatal(err)
			}
		}
		start := time.Now()
		for i, c := range conns {
			status, err := readStatus(c, 5*time.Second)
			if err != nil || status != http.StatusUnauthorized {
				t.Fatalf("connection %d: status %d, %v; want 401 without the body", i, status, err)
			}
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("50 unauthenticated trickling clients answered in %v", took)
		}
	})

	t.Run("authenticated trickle", func(t *testing.T) {
		c := dial()
		if _, err := c.Write([]byte(header("Authorization: Bearer " + aliceKey + "\r\n"))); err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		status, err := readStatus(c, 5*time.Second)
		// The server gives up reading: an error status or a closed connection, within about
		// BodyTimeout, never a handler held until the client finishes.
		if err == nil && status < 400 {
			t.Fatalf("status %d for a body that never came", status)
		}
		if took := time.Since(start); took > 2*time.Second {
			t.Errorf("a trickled body held the request for %v", took)
		}
	})

	t.Run("unauthenticated connection cap", func(t *testing.T) {
		// Idle connections that never send a request: past the cap they are closed at once.
		closed := 0
		for i := 0; i < 80; i++ {
			c := dial()
			_ = c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
			var b [1]byte
			if _, err := c.Read(b[:]); err != nil && !isTimeout(err) {
				closed++
			}
		}
		if closed < 20 {
			t.Errorf("%d of 80 idle unauthenticated connections were closed; want at least the 20 over the cap of 60", closed)
		}
	})
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}
