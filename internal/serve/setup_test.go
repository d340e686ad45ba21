package serve

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/sgde-project/sgde/runtime/cache"
	"github.com/sgde-project/sgde/runtime/llm"
)

func TestCacheStore(t *testing.T) {
	state := &Redis{}
	tests := []struct {
		store   string
		state   *Redis
		want    *Redis
		wantErr string
	}{
		{"file", nil, nil, ""},
		{"file", state, nil, ""},
		{"redis", state, state, ""},
		{"redis", nil, nil, "needs --state"},
		{"memcached", state, nil, "must be file or redis"},
	}
	for _, tt := range tests {
		got, err := CacheStore(tt.store, tt.state)
		if tt.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("CacheStore(%q) error %v, want %q", tt.store, err, tt.wantErr)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("CacheStore(%q) = %p, %v; want %p", tt.store, got, err, tt.want)
		}
	}
}

func TestNoStudent(t *testing.T) {
	tests := []struct {
		url, model string
		mode       cache.Mode
		want       bool
	}{
		{"http://127.0.0.1:9/v1", "m", cache.ModeUse, false},
		{"", "m", cache.ModeReplay, false}, // a replay answers from the cache
		{"", "m", cache.ModeUse, true},
		{"http://127.0.0.1:9/v1", "", cache.ModeUse, true}, // the cache and the endpoint need a model
		{"", "", cache.ModeReplay, true},
	}
	for _, tt := range tests {
		s := RunnerSetup{Student: llm.NewConfig(tt.url, tt.model), CacheMode: tt.mode}
		if got := s.NoStudent(); got != tt.want {
			t.Errorf("NoStudent(url %q, model %q, %s) = %v, want %v", tt.url, tt.model, tt.mode, got, tt.want)
		}
	}
}

func TestStartOTLP(t *testing.T) {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()
	tp, stop, err := StartOTLP(ctx, "", log)
	if err != nil || tp != nil || stop == nil {
		t.Fatalf("no endpoint: %v, %v, stop nil %v; want nil provider, a stop and no error", tp, err, stop == nil)
	}
	stop()
	if _, stop, err := StartOTLP(ctx, "127.0.0.1:4318", log); !errors.Is(err, ErrEndpoint) || stop == nil {
		t.Errorf("endpoint without scheme: %v, want ErrEndpoint", err)
	}
	tp, stop, err = StartOTLP(ctx, "http://127.0.0.1:9", log) // nothing listens; no span is sent
	if err != nil || tp == nil {
		t.Fatalf("StartOTLP = %v, %v", tp, err)
	}
	stop()
}
