package serve

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http/httptest"
	"os/exec"
	"reflect"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/npmtest"
)

// TestOfficialNodeClient serves the test plans and calls them with the official openai npm
// package: models, chat with n, streaming with usage, and its typed errors.
func TestOfficialNodeClient(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the npm install and node run")
	}
	dir, node := npmtest.OpenAIClient(t)
	factory, _ := realFactory(t)
	s := newTestServer(t, Options{NewRunner: factory})
	hs := httptest.NewServer(s.Handler())
	defer hs.Close()

	mjs := npmtest.Script(t, dir, "testdata/npm/client.mjs")
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
