package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/sgde-project/sgde/plans"
)

var teacherLine = regexp.MustCompile(`(?m)^--teacher (\S+) --teacher-model (\S+)$`)

// TestSimTeacher starts `sgde sim teacher`, sends it a request shaped like the compiler's with a
// response_format, and gets bare JSON edits with Go code back; an interrupt stops it.
func TestSimTeacher(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr lockedBuffer
	exit := make(chan int, 1)
	go func() {
		exit <- run(ctx, []string{"sgde", "sim", "teacher", "--addr", "127.0.0.1:0", "--seed", "2"}, &stdout, &stderr)
	}()
	var base string
	for deadline := time.Now().Add(20 * time.Second); base == ""; {
		if m := teacherLine.FindStringSubmatch(stdout.String()); m != nil {
			base = m[1]
			break
		}
		select {
		case code := <-exit:
			t.Fatalf("sim teacher exited %d early: %s", code, stderr.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no address printed; stdout %q stderr %q", stdout.String(), stderr.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if !strings.Contains(stderr.String(), "SIMULATED teacher") {
		t.Errorf("no simulation notice: %q", stderr.String())
	}
	p, err := plans.Load("../../testdata/plans/bbh-zero-shot.yaml")
	if err != nil {
		t.Fatal(err)
	}
	pj, _ := json.MarshalIndent(p, "", "  ")
	q := "Sort the following words alphabetically: List: pear apple fig"
	prompt := strings.Replace(p.Nodes[0].LLM.Prompt, "{{ inputs.question }}", q, 1)
	user := fmt.Sprintf("Round 1. Propose up to 1 candidates.\n\nPlan:\n%s\n\n## Node answer: 1 executions on wrong items, 0 on right items\n\n[wrong item 1] expected apple fig pear, plan returned pear\nprompt: %s\nvalue: pear\n", pj, prompt)
	body, _ := json.Marshal(map[string]any{"model": "sim-frontier", "messages": []any{map[string]any{"role": "user", "content": user}},
		"response_format": map[string]any{"type": "json_schema", "json_schema": map[string]any{"name": "edits", "schema": map[string]any{"type": "object"}}}})
	resp, err := http.Post(base+"/chat/completions", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	var cc struct {
		Choices []struct{ Message struct{ Content string } }
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &cc) != nil || len(cc.Choices) != 1 {
		t.Fatalf("chat completion: %d %s", resp.StatusCode, b)
	}
	var reply struct {
		Candidates []struct {
			Edits []struct{ Action, Source string }
		}
	}
	if err := json.Unmarshal([]byte(cc.Choices[0].Message.Content), &reply); err != nil {
		t.Fatalf("with a response_format the reply is not bare JSON: %v: %.200q", err, cc.Choices[0].Message.Content)
	}
	if len(reply.Candidates) != 1 || reply.Candidates[0].Edits[0].Action != "offload" || !strings.Contains(reply.Candidates[0].Edits[0].Source, "sort.Strings") {
		t.Fatalf("reply %+v, want an offload to a sorting solver", reply)
	}
	cancel()
	select {
	case code := <-exit:
		if code != exitOK {
			t.Fatalf("exit %d after interrupt: %s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("sim teacher did not stop on interrupt")
	}
}

func TestSimTeacherUsageErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--faults", "bogus"}, "unknown fault class"},
		{[]string{"--fault-rate", "1.5"}, "fault rate"},
		{[]string{"extra"}, "no arguments"},
	} {
		var stdout, stderr bytes.Buffer
		code := run(context.Background(), append([]string{"sgde", "sim", "teacher", "--addr", "127.0.0.1:0"}, tc.args...), &stdout, &stderr)
		if code != exitUsage || !strings.Contains(stderr.String(), tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want usage error mentioning %q", tc.args, code, stderr.String(), tc.want)
		}
	}
}
