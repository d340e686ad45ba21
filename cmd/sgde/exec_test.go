package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/cachedir"
	"github.com/sgde-project/sgde/internal/nodeexec"
)

const (
	arithSource = "../../compiler/library/modules/arith/arith_program.go"
	hostileDir  = "../../testdata/hostile"
)

var warmOnce sync.Once

// warmCache compiles the modules the exec tests run into the CLI's wazero cache with a process
// built without -race (see sandbox/internal/precompile), before the CLI's own load deadline
// starts: under -race wazero compiles ten times slower, and on a loaded machine (make test runs
// two test binaries at once, CI shares its cores) even a plain compile of arith_program can
// outlast the deadline, which is not what these tests are about.
func warmCache(t *testing.T) {
	warmOnce.Do(func() {
		root, err := cachedir.Root()
		if err != nil {
			return
		}
		args := []string{"run", "github.com/sgde-project/sgde/sandbox/internal/precompile", "-cache", filepath.Join(root, "wazero"), "-metered", arithSource}
		for _, f := range []string{"infinite_loop.go", "memory_bomb.go", "unreachable.wasm", "output_direct.wasm"} {
			args = append(args, filepath.Join(hostileDir, f))
		}
		cmd := exec.Command("go", args...)
		cmd.Env = append(os.Environ(), "GOFLAGS=")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Logf("precompile failed; modules compile under -race instead: %v\n%s", err, out)
		}
	})
}

func TestExecArithJSON(t *testing.T) {
	warmCache(t)
	code, out, errOut := runCLI(t, "exec", arithSource, "--input", `{"program": "def solution():\n    return 2**70 + 1\n"}`, "--json")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], `"answer":1180591620717411303425`) {
		t.Fatalf("output %q", out)
	}
	var line struct {
		Output map[string]json.RawMessage `json:"output"`
		Usage  map[string]any             `json:"usage"`
	}
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	if string(line.Output["answer"]) != "1180591620717411303425" || line.Usage["wall_ns"] == nil || line.Usage["peak_memory_pages"] == nil {
		t.Fatalf("line %s", lines[0])
	}
}

func TestExecInputsAndExitCodes(t *testing.T) {
	warmCache(t)
	dir := t.TempDir()
	inputs := filepath.Join(dir, "in.jsonl")
	err := os.WriteFile(inputs, []byte(`{"program": "def solution():\n    return 6 * 7\n"}`+"\n\n"+
		`{"program": "def solution():\n    return undefined_name\n"}`+"\n"), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	code, out, _ := runCLI(t, "exec", "--json", arithSource, "--inputs", inputs)
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != exitFailure || len(lines) != 2 || !strings.Contains(lines[0], `"answer":42`) || !strings.Contains(lines[1], `"kind":"guest_error"`) {
		t.Fatalf("exit %d, output %s", code, out)
	}

	tests := []struct {
		name string
		args []string
		code int
		kind string
	}{
		{"timeout", []string{"exec", filepath.Join(hostileDir, "infinite_loop.go"), "--input", "{}", "--timeout", "200ms", "--json"}, exitLimit, "timeout"},
		{"memory", []string{"exec", filepath.Join(hostileDir, "memory_bomb.go"), "--input", "{}", "--memory-mib", "16", "--json"}, exitLimit, "memory_limit"},
		{"trap module", []string{"exec", filepath.Join(hostileDir, "unreachable.wasm"), "--input", "{}", "--json"}, exitLimit, "trap"},
		{"invalid module", []string{"exec", filepath.Join(hostileDir, "garbage.wasm"), "--input", "{}", "--json"}, exitFailure, "invalid_module"},
		{"rejected", []string{"exec", filepath.Join(hostileDir, "host_file_os.go"), "--input", "{}", "--json"}, exitFailure, "rejected"},
		{"module ok", []string{"exec", filepath.Join(hostileDir, "output_direct.wasm"), "--input", "{}", "--json"}, exitOK, ""},
		{"no input", []string{"exec", arithSource}, exitUsage, ""},
		{"both inputs", []string{"exec", arithSource, "--input", "{}", "--inputs", inputs}, exitUsage, ""},
		{"input not object", []string{"exec", arithSource, "--input", "[1]"}, exitUsage, ""},
		{"bad extension", []string{"exec", "node.py", "--input", "{}"}, exitUsage, ""},
		{"bad memory", []string{"exec", arithSource, "--input", "{}", "--memory-mib", "0"}, exitUsage, ""},
		{"two sources", []string{"exec", arithSource, arithSource, "--input", "{}"}, exitUsage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, out, errOut := runCLI(t, tt.args...)
			if code != tt.code {
				t.Fatalf("exit %d, want %d; stdout %s stderr %s", code, tt.code, out, errOut)
			}
			if tt.kind != "" && !strings.Contains(out, `"kind":"`+tt.kind+`"`) {
				t.Fatalf("output %s, want kind %s", out, tt.kind)
			}
		})
	}
}

func TestBuildCommand(t *testing.T) {
	warmCache(t)
	mod := filepath.Join(t.TempDir(), "arith.wasm")
	code, out, errOut := runCLI(t, "build", arithSource, "-o", mod, "--json")
	if code != exitOK {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	var rep nodeexec.BuildReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	wasmBytes, err := os.ReadFile(mod)
	if err != nil || len(wasmBytes) != rep.Size || !strings.HasPrefix(rep.Digest, "sha256:") {
		t.Fatalf("report %+v, module %d bytes (%v)", rep, len(wasmBytes), err)
	}
	// The module runs directly.
	code, out, errOut = runCLI(t, "exec", mod, "--input", `{"program": "def solution():\n    return 3\n"}`)
	if code != exitOK || strings.TrimSpace(out) != `{"answer":3}` {
		t.Fatalf("exec module: exit %d, out %q, err %s", code, out, errOut)
	}
	// Text output and a rejection.
	code, out, _ = runCLI(t, "build", arithSource)
	if code != exitOK || !strings.Contains(out, "sha256:") || !strings.Contains(out, "bytes") {
		t.Fatalf("text build: exit %d, %s", code, out)
	}
	code, out, _ = runCLI(t, "build", filepath.Join(hostileDir, "alias_import.go"), "--json")
	if code != exitFailure || !strings.Contains(out, `"rule":"import-alias"`) || !strings.Contains(out, `"line":5`) {
		t.Fatalf("rejection: exit %d, %s", code, out)
	}
	for _, cmd := range []string{"build", "exec"} {
		code, out, _ := runCLI(t, cmd, "--help")
		if code != exitOK || !strings.Contains(out, "Example") || !strings.Contains(out, "sgde "+cmd) {
			t.Errorf("%s --help: exit %d, output:\n%s", cmd, code, out)
		}
	}
}

// TestExecCancelEndsHostCalls: when the context of `sgde exec` ends (SIGINT and SIGTERM cancel
// it in main), a call busy in host functions ends within a second, whatever its own limits say.
func TestExecCancelEndsHostCalls(t *testing.T) {
	// No warmCache: these hand-written modules are a few hundred bytes, quick to compile even
	// under -race (make test runs this test only with -race, as a concurrency test).
	for _, f := range []string{"random_get_loop.wasm", "fd_write_iovecs.wasm", "init_random_get.wasm"} {
		t.Run(f, func(t *testing.T) {
			ctx, cancel := context.WithCancel(context.Background())
			var out, errOut bytes.Buffer
			done := make(chan int, 1)
			go func() {
				done <- run(ctx, []string{"sgde", "exec", filepath.Join(hostileDir, f), "--input", "{}", "--timeout", "60s", "--json"}, &out, &errOut)
			}()
			time.Sleep(500 * time.Millisecond)
			cancel()
			start := time.Now()
			select {
			case code := <-done:
				if took := time.Since(start); took > time.Second {
					t.Errorf("exec returned %v after its context ended, more than 1s", took)
				}
				if code == exitOK {
					t.Errorf("exit %d after cancellation; stdout %s", code, out.String())
				}
			case <-time.After(10 * time.Second):
				t.Fatal("exec did not return within 10s of its context ending")
			}
		})
	}
}
