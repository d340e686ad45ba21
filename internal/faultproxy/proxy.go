// Package faultproxy is an HTTP reverse proxy that injects the failures a real model endpoint
// shows (rate limits, server errors, hangs, cut or truncated bodies, empty or HTML replies,
// trickled bodies) into a chosen share of requests, and counts what it saw. Tests put it in
// front of the student simulator to check that sgde's results and accounting survive them.
package faultproxy

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is what the proxy does instead of (or while) forwarding a request.
type Fault int

// The faults.
const (
	None        Fault = iota
	TooMany           // 429 with Retry-After: 0
	ServerError       // 500 with an OpenAI-shaped error body
	Unavailable       // 503 with a text body
	Hang              // no answer until the client gives up (or Proxy.HangFor passes)
	CutBody           // the upstream reply, its connection closed half way through the body
	Truncated         // a 200 whose JSON body stops half way (Content-Length says so)
	EmptyJSON         // a 200 with {} (no choices)
	EmptyBody         // a 200 with an empty body
	HTML              // a 200 text/html page, as from a misconfigured gateway
	Trickle           // the upstream reply, a few bytes at a time (slow but complete)
	numFaults
)

var names = [...]string{"none", "429", "500", "503", "hang", "cut_body", "truncated_json", "empty_json", "empty_body", "html", "trickle"}

// String names the fault.
func (f Fault) String() string {
	if f >= 0 && int(f) < len(names) {
		return names[f]
	}
	return fmt.Sprintf("fault(%d)", int(f))
}

// All is every fault.
func All() []Fault {
	out := make([]Fault, 0, numFaults-1)
	for f := TooMany; f < numFaults; f++ {
		out = append(out, f)
	}
	return out
}

// Proxy is a fault-injecting reverse proxy. Close it when done.
type Proxy struct {
	*httptest.Server
	// HangFor bounds a Hang (the client normally gives up first).
	HangFor time.Duration
	// TrickleEvery is the pause between the small writes of a Trickle.
	TrickleEvery time.Duration

	target *url.URL
	client *http.Client
	rate   float64
	faults []Fault

	mu       sync.Mutex
	next     int // faults are injected in turn, so that a few requests already see each kind
	rng      *rand.Rand
	injected map[Fault]int
	seen     atomic.Int64
	closing  chan struct{}
	once     sync.Once
}

// New starts a proxy to target (a base URL such as http://127.0.0.1:8088/v1) injecting faults
// (each in turn) into a random share rate of requests; seed makes the choices repeatable.
func New(target string, rate float64, seed uint64, faults ...Fault) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("faultproxy: %w", err)
	}
	if len(faults) == 0 {
		faults = All()
	}
	p := &Proxy{
		HangFor: 30 * time.Second, TrickleEvery: 2 * time.Millisecond,
		target: u, client: &http.Client{Timeout: time.Minute}, rate: rate, faults: faults,
		rng: rand.New(rand.NewPCG(seed, 0xfa17)), injected: map[Fault]int{}, closing: make(chan struct{}),
	}
	p.Server = httptest.NewServer(http.HandlerFunc(p.handle))
	return p, nil
}

// URL is the proxy's base URL, with the target's path (…/v1).
func (p *Proxy) URL() string { return p.Server.URL + p.target.Path }

// Requests is the number of requests the proxy received.
func (p *Proxy) Requests() int64 { return p.seen.Load() }

// Injected returns how many times each fault was injected.
func (p *Proxy) Injected() map[Fault]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[Fault]int, len(p.injected))
	for k, v := range p.injected {
		out[k] = v
	}
	return out
}

// Close releases hanging requests and stops the proxy.
func (p *Proxy) Close() {
	p.once.Do(func() { close(p.closing) })
	p.Server.CloseClientConnections()
	p.Server.Close()
}

func (p *Proxy) pick() Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	f := None
	if p.rng.Float64() < p.rate {
		f = p.faults[p.next%len(p.faults)]
		p.next++
	}
	p.injected[f]++
	return f
}

func (p *Proxy) handle(w http.ResponseWriter, r *http.Request) {
	p.seen.Add(1)
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return
	}
	switch f := p.pick(); f {
	case TooMany:
		w.Header().Set("Retry-After", "0")
		writeJSON(w, http.StatusTooManyRequests, `{"error":{"message":"rate limited","type":"rate_limit_error","code":"rate_limit"}}`)
	case ServerError:
		writeJSON(w, http.StatusInternalServerError, `{"error":{"message":"boom","type":"server_error","code":"internal"}}`)
	case Unavailable:
		w.Header().Set("Content-Type", "text/plain")
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, "upstream unavailable\n")
	case Hang:
		t := time.NewTimer(p.HangFor)
		defer t.Stop()
		select {
		case <-r.Context().Done():
		case <-p.closing:
		case <-t.C:
		}
	case EmptyJSON:
		writeJSON(w, http.StatusOK, `{}`)
	case EmptyBody:
		writeJSON(w, http.StatusOK, ``)
	case HTML:
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(http.StatusOK)
		io.WriteString(w, "<!DOCTYPE html><html><head><title>502 Bad Gateway</title></head><body><h1>Bad Gateway</h1></body></html>\n")
	default:
		status, hdr, reply, err := p.forward(r.Context(), r, body)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		switch f {
		case Truncated:
			writeJSON(w, http.StatusOK, string(reply[:len(reply)/2]))
		case CutBody:
			cut(w, status, hdr, reply)
		case Trickle:
			copyHeader(w.Header(), hdr)
			w.WriteHeader(status)
			fl, _ := w.(http.Flusher)
			for b := reply; len(b) > 0; {
				n := min(len(b), 16)
				if _, err := w.Write(b[:n]); err != nil {
					return
				}
				if fl != nil {
					fl.Flush()
				}
				b = b[n:]
				select {
				case <-time.After(p.TrickleEvery):
				case <-r.Context().Done():
					return
				}
			}
		default:
			copyHeader(w.Header(), hdr)
			w.WriteHeader(status)
			w.Write(reply)
		}
	}
}

// forward sends the request upstream and returns the whole reply.
func (p *Proxy) forward(ctx context.Context, r *http.Request, body []byte) (int, http.Header, []byte, error) {
	u := *p.target
	u.Path = strings.TrimSuffix(p.target.Path, "/") + strings.TrimPrefix(r.URL.Path, strings.TrimSuffix(p.target.Path, "/"))
	u.RawQuery = r.URL.RawQuery
	req, err := http.NewRequestWithContext(ctx, r.Method, u.String(), bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	copyHeader(req.Header, r.Header)
	resp, err := p.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	reply, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, reply, err
}

// cut sends the status, the headers with the full Content-Length and half the body, then
// closes the connection.
func cut(w http.ResponseWriter, status int, hdr http.Header, reply []byte) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		return
	}
	conn, buf, err := hj.Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	fmt.Fprintf(buf, "HTTP/1.1 %d %s\r\n", status, http.StatusText(status))
	fmt.Fprintf(buf, "Content-Type: %s\r\nContent-Length: %d\r\n\r\n", hdr.Get("Content-Type"), len(reply))
	buf.Write(reply[:len(reply)/2])
	buf.Flush()
}

func writeJSON(w http.ResponseWriter, status int, body string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Content-Length", fmt.Sprint(len(body)))
	w.WriteHeader(status)
	io.WriteString(w, body)
}

func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		if strings.EqualFold(k, "Content-Length") {
			continue
		}
		for _, v := range vs {
			dst.Add(k, v)
		}
	}
}
