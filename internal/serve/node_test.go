package serve

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
	"time"
)

// npmClientDir installs the official openai npm client pinned by testdata/npm/package-lock.json
// (the same lockfile as internal/simulator's, so both share one install) into a cache directory
// outside the repository, keyed by the lockfile's hash.
func npmClientDir(t *testing.T) (dir, node string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skip("node is not installed: skipping the official openai npm client test (install node >= 20 and npm to run it)")
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		t.Skip("npm is not installed: skipping the official openai npm client test")
	}
	lock, err := os.ReadFile("testdata/npm/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(lock)
	base, err := os.UserCacheDir()
	if err != nil {
		base = os.TempDir()
	}
	dir = filepath.Join(base, "sgde", "simulator-npm-"+hex.EncodeToString(sum[:8]))
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "openai", "package.json")); err == nil {
		return dir, node
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"package.json", "package-lock.json"} {
		b, err := os.ReadFile(filepath.Join("testdata", "npm", f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, npm, "ci", "--no-audit", "--no-fund", "--ignore-scripts")
	cmd.Dir = dir
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("npm ci in %s: %v\n%s", dir, err, out)
	}
	return dir, node
}

// TestOfficialNodeClient serves the test plans and calls them with the official openai npm
// package: models, chat with n, streaming with usage, and its typed errors.
func TestOfficialNodeClient(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the npm install and node run")
	}
	dir, node := npmClientDir(t)
	factory, _ := realFactory(t)
	s := newTestServer(t, Options{NewRunner: factory})
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()

	script, err := os.ReadFile("testdata/npm/client.mjs")
	if err != nil {
		t.Fatal(err)
	}
	// The script runs from the install directory so that `import "openai"` resolves there.
	mjs := filepath.Join(dir, "serve-client.mjs")
	if err := os.WriteFile(mjs, script, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, node, mjs, hs.URL+"/v1", aliceKey)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client: %v\n%s", err, stderr.String())
	}
	type failure struct {
		Status int
		Code   string
		Type   string
		Param  *string
		Name   string
	}
	var got struct {
		Models []string
		Chat   struct {
			Object, Model, Fingerprint string
			Contents, Finish           []string
			Usage                      map[string]int
		}
		Stream struct {
			Content, Finish string
			Usage           map[string]int
			Chunks          int
		}
		Sum                    string
		Hidden, BadN, WrongKey failure
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node client output %q: %v", out, err)
	}
	if !reflect.DeepEqual(got.Models, []string{"add", "shout"}) {
		t.Errorf("models %v, want alice's grants [add shout]", got.Models)
	}
	c := got.Chat
	if c.Object != "chat.completion" || c.Model != "shout" || c.Fingerprint != s.plans.Load().digests["shout"] ||
		!reflect.DeepEqual(c.Contents, []string{"HELLO FROM NODE!", "HELLO FROM NODE!"}) ||
		!reflect.DeepEqual(c.Finish, []string{"stop", "stop"}) {
		t.Errorf("chat seen by node: %+v", c)
	}
	if _, ok := c.Usage["total_tokens"]; !ok {
		t.Errorf("chat usage %v", c.Usage)
	}
	if st := got.Stream; st.Content != "STREAM ME!" || st.Finish != "stop" || st.Usage == nil || st.Chunks != 3 {
		t.Errorf("stream seen by node: %+v", st)
	}
	if got.Sum != "0.30000000000000004" {
		t.Errorf("add through chat: %q", got.Sum)
	}
	if f := got.Hidden; f.Status != 404 || f.Code != "model_not_found" || f.Name != "NotFoundError" {
		t.Errorf("another tenant's plan seen by node: %+v", f)
	}
	if f := got.BadN; f.Status != 400 || f.Param == nil || *f.Param != "n" || f.Name != "BadRequestError" {
		t.Errorf("n=100 seen by node: %+v", f)
	}
	if f := got.WrongKey; f.Status != 401 || f.Code != "invalid_api_key" || f.Name != "AuthenticationError" {
		t.Errorf("wrong key seen by node: %+v", f)
	}
}
