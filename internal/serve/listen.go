package serve

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// ListenAndServe listens on apiAddr (and on opsAddr for /metrics, /healthz and /readyz when
// it is set), reloads the plans folder on every SIGHUP, and serves until ctx ends (then it
// drains as ServeWithOps does). Without opsAddr, /metrics is on the API address: a warning is
// logged when that address is reachable from other hosts.
func (s *Server) ListenAndServe(ctx context.Context, apiAddr, opsAddr string, log *slog.Logger) error {
	ln, err := net.Listen("tcp", apiAddr)
	if err != nil {
		return err
	}
	var opsLn net.Listener
	if opsAddr != "" {
		if opsLn, err = net.Listen("tcp", opsAddr); err != nil {
			ln.Close()
			return fmt.Errorf("--ops-addr: %w", err)
		}
	} else {
		WarnPublicMetrics(log, ln.Addr())
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	done := make(chan struct{})
	var reloader sync.WaitGroup
	reloader.Add(1)
	defer reloader.Wait()
	defer close(done)
	go func() {
		defer reloader.Done()
		for {
			select {
			case <-hup:
				_ = s.Reload() // logged; the old plans stay on failure
			case <-done:
				return
			}
		}
	}()
	return s.ServeWithOps(ctx, ln, opsLn)
}

// WarnPublicMetrics logs a warning when /metrics, served on the API listener at addr, is
// reachable from other hosts.
func WarnPublicMetrics(log *slog.Logger, addr net.Addr) {
	if !isLoopback(addr) {
		log.Warn("/metrics is public: it is served unauthenticated on the API address, which is not a loopback address, "+
			"so anyone reaching the API can read every tenant's metrics; serve it on a private address with --ops-addr",
			"addr", addr.String())
	}
}

// isLoopback reports whether a listener's address is reachable only from this host. The
// unspecified address (0.0.0.0, ::) listens on every interface, so it is not.
func isLoopback(a net.Addr) bool {
	tcp, ok := a.(*net.TCPAddr)
	return ok && tcp.IP.IsLoopback()
}
