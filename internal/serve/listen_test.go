package serve

import (
	"bytes"
	"log/slog"
	"net"
	"strings"
	"testing"
)

func TestWarnPublicMetrics(t *testing.T) {
	for _, tt := range []struct {
		addr string
		warn bool
	}{
		{"127.0.0.1:8080", false}, {"127.0.0.2:8080", false}, {"[::1]:8080", false},
		{"0.0.0.0:8080", true}, {"[::]:8080", true}, {"10.1.2.3:8080", true}, {"192.168.0.9:80", true},
	} {
		a, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		var buf bytes.Buffer
		WarnPublicMetrics(slog.New(slog.NewJSONHandler(&buf, nil)), a)
		if got := strings.Contains(buf.String(), "/metrics is public") && strings.Contains(buf.String(), "--ops-addr"); got != tt.warn {
			t.Errorf("%s: warned %v, want %v: %s", tt.addr, got, tt.warn, buf.String())
		}
	}
}
