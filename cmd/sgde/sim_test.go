package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"
)

// lockedBuffer is a bytes.Buffer safe to read while the command writes to it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

var urlLine = regexp.MustCompile(`(?m)^SGDE_STUDENT_URL=(\S+)$`)

func TestSimServe(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"sgde", "sim", "serve", "--addr", "127.0.0.1:0", "--latency", "0",
			"--knowledge", "../../testdata/gsm-hard/slice.jsonl", "--profile", "slm-7b", "--seed", "4"}, &stdout, &stderr)
	}()
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == ""; {
		if m := urlLine.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case code := <-exit:
			t.Fatalf("sim serve exited %d early: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no address printed; stdout %q stderr %q", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(stdout.String(), "SGDE_STUDENT_MODEL=slm-7b") || !strings.Contains(stderr.String(), "not real models") {
		t.Fatalf("startup output: %q / %q", stdout.String(), stderr.String())
	}
	body := `{"model":"slm-7b","messages":[{"role":"user","content":"A robe takes 2287720 bolts of blue fiber and half that much white fiber.  How many bolts in total does it take?"}],"n":2,"seed":1,"temperature":0.5}`
	resp, err := http.Post(base+"/chat/completions", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var cc struct {
		Choices []struct {
			Message struct{ Content string }
		}
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &cc) != nil || len(cc.Choices) != 2 || cc.Choices[0].Message.Content == "" {
		t.Fatalf("chat completion: %d %s", resp.StatusCode, b)
	}
	cancel() // what SIGINT does in main
	select {
	case code := <-exit:
		if code != exitOK {
			t.Fatalf("exit %d after interrupt: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sim serve did not stop on interrupt")
	}
}

func TestSimServeUsageErrors(t *testing.T) {
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown profile", []string{"--profile", "gpt-9"}, "no shipped profile"},
		{"missing profile file", []string{"--profile", "/nonexistent/p.yaml"}, "no such file"},
		{"missing knowledge", []string{"--knowledge", "/nonexistent.jsonl"}, "no such file"},
		{"negative latency", []string{"--latency", "-1"}, "--latency"},
		{"stray argument", []string{"extra"}, "no arguments"},
		{"bad address", []string{"--addr", "nonsense"}, "listen"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			args := append([]string{"sgde", "sim", "serve", "--knowledge", "../../testdata/gsm-hard/slice.jsonl"}, tc.args...)
			code := run(context.Background(), args, &stdout, &stderr)
			want := exitUsage
			if tc.name == "bad address" {
				want = exitFailure
			}
			if code != want || !strings.Contains(stderr.String(), tc.want) {
				t.Fatalf("exit %d, stderr %q; want exit %d mentioning %q", code, stderr.String(), want, tc.want)
			}
		})
	}
}
