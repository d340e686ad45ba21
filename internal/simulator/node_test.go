package simulator

import (
	"bytes"
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/internal/npmtest"
)

// TestOfficialNodeClient drives the simulator with the official openai npm package.
func TestOfficialNodeClient(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: skipping the npm install and node run")
	}
	dir, node := npmtest.OpenAIClient(t)
	k := slice(t)
	srv := startSim(t, NewConfig(k, DefaultProfile()).WithSeed(2))
	mjs := npmtest.Script(t, dir, "testdata/npm/client.mjs")
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	question := k.Record(12).Input
	cmd := exec.CommandContext(ctx, node, mjs, srv.URL(), "slm-1.5b", question)
	cmd.Dir = dir
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("node client: %v\n%s", err, stderr.String())
	}
	var got struct {
		Models []string `json:"models"`
		Chat   struct {
			Object   string   `json:"object"`
			Model    string   `json:"model"`
			Contents []string `json:"contents"`
			Finish   []string `json:"finish"`
			Usage    struct {
				Prompt     int `json:"prompt_tokens"`
				Completion int `json:"completion_tokens"`
				Total      int `json:"total_tokens"`
			} `json:"usage"`
		} `json:"chat"`
		RepeatContents []string           `json:"repeatContents"`
		JSON           map[string]float64 `json:"json"`
		Short          struct {
			Finish string `json:"finish"`
			Tokens int    `json:"tokens"`
		} `json:"short"`
		BadModel struct {
			Status     int    `json:"status"`
			Code       string `json:"code"`
			IsAPIError bool   `json:"isAPIError"`
		} `json:"badModel"`
		BadN struct {
			Status int    `json:"status"`
			Param  string `json:"param"`
		} `json:"badN"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node client output %q: %v", out, err)
	}
	if len(got.Models) != 1 || got.Models[0] != "slm-1.5b" {
		t.Errorf("models.list = %v", got.Models)
	}
	c := got.Chat
	if c.Object != "chat.completion" || c.Model != "slm-1.5b" || len(c.Contents) != 3 || strings.Join(c.Finish, ",") != "stop,stop,stop" {
		t.Errorf("chat completion %+v", c)
	}
	if c.Usage.Total != c.Usage.Prompt+c.Usage.Completion || c.Usage.Completion <= 0 {
		t.Errorf("usage %+v", c.Usage)
	}
	if strings.Join(got.RepeatContents, "\x00") != strings.Join(c.Contents, "\x00") {
		t.Errorf("seeded request not reproducible through the node client: %q vs %q", c.Contents, got.RepeatContents)
	}
	// The node client's answers are the ones the model gives the same request in-process.
	seed := int64(7)
	want := generateOK(t, &Model{k: k, p: DefaultProfile(), seed: 2}, &chatRequest{
		model: "slm-1.5b", n: 3, temperature: 0.7, seed: &seed, maxTokens: 256, format: "text",
		messages: []message{{"system", "Solve the math word problem. Respond with only the number."}, {"user", question}},
	}, 0)
	for i, ch := range want.choices {
		if i < len(c.Contents) && c.Contents[i] != ch.text {
			t.Errorf("choice %d over the wire %q, in-process %q", i, c.Contents[i], ch.text)
		}
	}
	if _, ok := got.JSON["answer"]; !ok {
		t.Errorf("json_schema answer %v", got.JSON)
	}
	if got.Short.Finish != "length" || got.Short.Tokens > 5 {
		t.Errorf("max_completion_tokens: %+v", got.Short)
	}
	if got.BadModel.Status != 404 || got.BadModel.Code != "model_not_found" || !got.BadModel.IsAPIError {
		t.Errorf("unknown model error seen by node: %+v", got.BadModel)
	}
	if got.BadN.Status != 400 || got.BadN.Param != "n" {
		t.Errorf("n=1000 error seen by node: %+v", got.BadN)
	}
}
