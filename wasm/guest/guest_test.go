package guest

import (
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/sgde-project/sgde/wasm/abi"
)

func TestCall(t *testing.T) {
	tests := []struct {
		name     string
		input    string
		f        Func
		wantKind string
		wantOut  string
	}{
		{"ok", `{"x": 12345678901234567890}`, func(in map[string]any) (map[string]any, error) {
			return map[string]any{"y": in["x"]}, nil
		}, "", `{"output":{"y":12345678901234567890}}`},
		{"nil output", `{}`, func(map[string]any) (map[string]any, error) { return nil, nil }, "", `{"output":{}}`},
		{"error", `{}`, func(map[string]any) (map[string]any, error) { return nil, errors.New("boom") }, "guest_error", ""},
		{"panic", `{}`, func(map[string]any) (map[string]any, error) { panic("oops") }, "panic", ""},
		{"bad input", `[1]`, func(map[string]any) (map[string]any, error) { return nil, nil }, "bad_input", ""},
		{"huge panic", `{}`, func(map[string]any) (map[string]any, error) {
			panic(strings.Repeat("é", MaxErrorBytes))
		}, "panic", ""},
		{"bad output", `{}`, func(map[string]any) (map[string]any, error) {
			return map[string]any{"c": make(chan int)}, nil
		}, "bad_output", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := encode(call(tt.f, []byte(tt.input)))
			var env envelope
			if err := json.Unmarshal(got, &env); err != nil {
				t.Fatalf("envelope %s: %v", got, err)
			}
			if env.Kind != tt.wantKind {
				t.Fatalf("kind = %q, want %q (%s)", env.Kind, tt.wantKind, got)
			}
			if len(env.Error) > MaxErrorBytes+64 || !utf8.ValidString(env.Error) {
				t.Fatalf("error message is %d bytes (valid UTF-8: %v), want at most ~%d", len(env.Error), utf8.ValidString(env.Error), MaxErrorBytes)
			}
			if tt.wantOut != "" && string(got) != tt.wantOut {
				t.Fatalf("envelope = %s, want %s", got, tt.wantOut)
			}
		})
	}
}

// TestABINames checks the SDK's //go:wasmimport directives, which must spell the host's names
// literally, against their one definition in wasm/abi.
func TestABINames(t *testing.T) {
	src, err := os.ReadFile("io_wasip1.go")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{abi.InputSize, abi.InputRead, abi.OutputWrite} {
		if want := "//go:wasmimport " + abi.HostModule + " " + name + "\n"; !strings.Contains(string(src), want) {
			t.Errorf("io_wasip1.go lacks %q", want)
		}
	}
	if n := strings.Count(string(src), "\n//go:wasmimport "); n != 3 {
		t.Errorf("io_wasip1.go has %d //go:wasmimport directives, want the 3 of package abi", n)
	}
}
