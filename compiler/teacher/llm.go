package teacher

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/sgde-project/sgde/compiler/edit"
	"github.com/sgde-project/sgde/runtime/llm"
)

// LLM is the teacher on an OpenAI-compatible endpoint. It shows the model the plan and, per
// node, a few failing and passing executions, and asks for a critique per node and candidate
// edits as JSON. Replies are read leniently, checked strictly, and repaired at most once; a
// reply that stays unusable yields no candidates, never a crash.
type LLM struct {
	c      llm.Completer
	model  string
	budget int64
	shown  int // examples shown per node and outcome
	maxLen int // characters kept of each prompt or reply shown

	mu    sync.Mutex
	spent int64
}

// NewLLM returns a teacher asking c (named model in provenance) with a budget in total tokens
// (0: unlimited).
func NewLLM(c llm.Completer, model string, budget int64) *LLM {
	return &LLM{c: c, model: model, budget: budget, shown: 3, maxLen: 700}
}

// Name implements Teacher.
func (t *LLM) Name() string { return "llm:" + t.model }

// Spent returns the tokens used so far.
func (t *LLM) Spent() int64 {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.spent
}

func (t *LLM) complete(ctx context.Context, msgs []llm.Message) (string, int64, error) {
	t.mu.Lock()
	over := t.budget > 0 && t.spent >= t.budget
	t.mu.Unlock()
	if over {
		return "", 0, ErrBudget
	}
	temp := 0.0
	resp, err := t.c.Complete(ctx, llm.Request{Messages: msgs, Sampling: llm.Sampling{Temperature: &temp}})
	if err != nil {
		return "", 0, fmt.Errorf("teacher call: %w", err)
	}
	n := int64(resp.Usage.TotalTokens)
	if n == 0 {
		n = int64(len(resp.Text)/4 + 1) // endpoints that omit usage still cost something
		for _, m := range msgs {
			n += int64(len(m.Content) / 4)
		}
	}
	t.mu.Lock()
	t.spent += n
	t.mu.Unlock()
	return resp.Text, n, nil
}

// Propose implements Teacher.
func (t *LLM) Propose(ctx context.Context, in Input) (Proposal, error) {
	if in.Plan == nil {
		return Proposal{}, errors.New("llm teacher: no plan")
	}
	msgs := []llm.Message{
		{Role: llm.RoleSystem, Content: systemPrompt(in.Allowed)},
		{Role: llm.RoleUser, Content: t.userPrompt(in)},
	}
	var prop Proposal
	reply, n, err := t.complete(ctx, msgs)
	prop.Tokens += n
	if err != nil {
		return prop, err
	}
	resp, perr := parseReply(reply, in.Allowed)
	if perr != nil {
		prop.Problems = append(prop.Problems, "reply rejected: "+perr.Error())
		msgs = append(msgs,
			llm.Message{Role: llm.RoleAssistant, Content: truncate(reply, 8000)},
			llm.Message{Role: llm.RoleUser, Content: "Your reply could not be used: " + truncate(perr.Error(), 2000) +
				"\nReply again with only the corrected JSON object that follows the schema."})
		reply2, n2, err := t.complete(ctx, msgs)
		prop.Tokens += n2
		if err != nil {
			if errors.Is(err, ErrBudget) || ctx.Err() != nil {
				return prop, err
			}
			prop.Problems = append(prop.Problems, "repair request failed: "+err.Error())
			return prop, nil
		}
		resp2, perr2 := parseReply(reply2, in.Allowed)
		if perr2 != nil {
			prop.Problems = append(prop.Problems, "repaired reply rejected: "+perr2.Error())
			resp2 = salvage(resp2, in.Allowed)
			if resp2 == nil {
				return prop, nil
			}
			prop.Problems = append(prop.Problems, fmt.Sprintf("kept %d valid candidates of the repaired reply", len(resp2.Candidates)))
		} else {
			prop.Problems = append(prop.Problems, "repaired reply accepted")
		}
		resp = resp2
	}
	prop.Critique = resp.Critique
	prop.Candidates = resp.Candidates
	if in.K > 0 && len(prop.Candidates) > in.K {
		prop.Candidates = prop.Candidates[:in.K]
	}
	return prop, nil
}

// mixedShown is how many helped and how many hurt items of Input.Mixed the teacher is shown:
// a partition rule needs more examples of each side than a node's diagnosis does.
const mixedShown = 12

// MaxReplyBytes bounds a teacher reply the compiler reads: a useful reply (critique and a few
// candidates with their code) is a few tens of kilobytes; a longer one is a model that ran on,
// and reading it would only cost memory and parse time.
const MaxReplyBytes = 256 << 10

// ErrReplyTooLong means a teacher reply exceeded MaxReplyBytes.
var ErrReplyTooLong = errors.New("reply too long")

func parseReply(reply string, allowed []edit.Action) (*edit.Response, error) {
	if len(reply) > MaxReplyBytes {
		return nil, fmt.Errorf("%w: %d bytes, limit %d", ErrReplyTooLong, len(reply), MaxReplyBytes)
	}
	return edit.Parse(reply, allowed)
}

// salvage keeps the candidates of a partly invalid reply whose every edit validates.
func salvage(r *edit.Response, allowed []edit.Action) *edit.Response {
	if r == nil {
		return nil
	}
	var keep []edit.Candidate
	for _, c := range r.Candidates {
		ok := len(c.Edits) > 0
		for _, e := range c.Edits {
			if len(e.Validate()) > 0 || (allowed != nil && !slices.Contains(allowed, e.Action)) {
				ok = false
			}
		}
		if ok {
			keep = append(keep, c)
		}
	}
	if len(keep) == 0 {
		return nil
	}
	return &edit.Response{Critique: r.Critique, Candidates: keep}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…[truncated]"
}

func systemPrompt(allowed []edit.Action) string {
	if allowed == nil {
		allowed = edit.Actions()
	}
	names := make([]string, len(allowed))
	for i, a := range allowed {
		names[i] = string(a)
	}
	return `You improve plans that a small language model (the student) executes. A plan is a DAG of nodes:
"llm" nodes (a prompt template run on the student, with an output parser), "code" nodes (Go source run in a
WebAssembly sandbox) and "consensus" nodes (N perturbed samples of member nodes and a deterministic vote).
Templates insert values with {{ inputs.NAME }}, {{ NODE }} or {{ NODE.FIELD }}.

You are shown the plan and, per node, executions on training items the plan got wrong and right.
First diagnose each node in words. Then propose candidate edits. Reply with ONE JSON object:

{"critique": {"NODE_ID": "what goes wrong and why"},
 "candidates": [{"rationale": "why this helps", "edits": [EDIT, ...]}]}

Allowed actions in this run: ` + strings.Join(names, ", ") + `. EDIT is one of:
{"action":"refine_prompt","node":ID,"prompt":TEMPLATE?,"system":TEXT?,"examples":[{"user":..,"assistant":..}]?,"parser":{"type":"number|integer|json|regex|text|code","pattern":..?}?}
{"action":"offload","node":ID,"source":GO,"inputs":{"field":REF},"outputs":{"field":"number|string|..."},
  "prompt":TEMPLATE?,"id":NEW_ID?,"output_field":FIELD?}
  Without "prompt" the node becomes a code node. With "prompt" the llm node is re-prompted (e.g. to write a
  program, parser "code") and a new code node NEW_ID reading it replaces it for every consumer.
  GO is one file: package main; import "github.com/sgde-project/sgde/wasm/guest"; func main() { guest.Run(f) }
  with f func(map[string]any) (map[string]any, error). Numbers arrive as json.Number. No I/O, no network,
  no goroutines, standard library only; it must terminate quickly.
{"action":"consensus","node":ID,"members":[LLM_ID, CODE_ID...]?,"n":2..15,"perturbations":{"temperatures":[..],"seeds":[..],"prompt_variants":[..]}?,
  "vote":{"method":"majority|plurality|median|first_valid","normalize":"number|text|exact"}}
{"action":"split","node":ID,"into":[NODE, NODE, ...],"as":ID?}
{"action":"fuse","nodes":[ID, ID, ...],"fused":NODE}
{"action":"route","classifier":CLASSIFIER,"branches":[{"name":NAME,"edits":[EDIT, ...]}, ...],"default":NAME,"id":ID?}
  Use it when one change helps some items and hurts others: the items are partitioned by the classifier, and
  each branch runs the whole plan with that branch's edits (an empty list keeps the plan as it is). 2 to 8
  branches; NAME is letters, digits, _ and -. CLASSIFIER is {"substrate":"code","source":GO,"inputs":{"field":REF},
  "output_field":FIELD?} (GO returns {FIELD: NAME}, FIELD "branch" by default) or {"substrate":"llm","prompt":TEMPLATE,
  "n":2..15?} (the student's reply is matched against the branch names; with n, the plurality of n replies). Decide from the inputs alone, never from labels.
NODE is a full node object as in the plan JSON. Propose the most promising candidates first. Never add
anything that depends on the labels; the plan must generalise to unseen items.`
}

func (t *LLM) userPrompt(in Input) string {
	var b strings.Builder
	shown := *in.Plan
	shown.Provenance = nil
	shown.Nodes = slices.Clone(in.Plan.Nodes)
	for i, n := range shown.Nodes {
		if n.Code != nil && len(n.Code.Source) > 1500 {
			c := *n.Code
			c.Source = c.Source[:1500] + "\n// …[source truncated]"
			shown.Nodes[i].Code = &c
		}
	}
	pj, _ := json.MarshalIndent(&shown, "", "  ")
	fmt.Fprintf(&b, "Round %d. Propose up to %d candidates.\n\nPlan:\n%s\n", in.Round, max(in.K, 1), pj)
	if m := in.Mixed; m != nil {
		ej, _ := json.Marshal(m.Edits)
		fmt.Fprintf(&b, "\n## Mixed: a candidate helped %d training items and hurt %d\n", len(m.Helped), len(m.Hurt))
		if m.Rationale != "" {
			fmt.Fprintf(&b, "rationale: %s\n", truncate(m.Rationale, 300))
		}
		// In full (a route edit repeats them in a branch), unless longer than a reply may be.
		fmt.Fprintf(&b, "edits: %s\n", truncate(string(ej), MaxReplyBytes/2))
		for _, group := range []struct {
			name string
			ex   []Example
		}{{"helped", m.Helped}, {"hurt", m.Hurt}} {
			for i, ex := range group.ex {
				if i >= mixedShown {
					break
				}
				fmt.Fprintf(&b, "\n[%s item %s] expected %v\ninputs: %s\n", group.name, ex.Item, show(ex.Expected), truncate(show(ex.Inputs), t.maxLen))
			}
		}
	}
	for _, ev := range in.Nodes {
		fmt.Fprintf(&b, "\n## Node %s: %d executions on wrong items, %d on right items\n", ev.Node, len(ev.Failing), len(ev.Passing))
		for _, group := range []struct {
			name string
			ex   []Example
		}{{"wrong", ev.Failing}, {"right", ev.Passing}} {
			for i, ex := range group.ex {
				if i >= t.shown {
					break
				}
				fmt.Fprintf(&b, "\n[%s item %s] expected %v, plan returned %v\n", group.name, ex.Item, show(ex.Expected), show(ex.PlanOutput))
				if ex.Prompt != "" {
					fmt.Fprintf(&b, "prompt: %s\n", truncate(ex.Prompt, t.maxLen))
				}
				if ex.Raw != "" {
					fmt.Fprintf(&b, "reply: %s\n", truncate(ex.Raw, t.maxLen))
				}
				if ex.Input != nil {
					fmt.Fprintf(&b, "input: %s\n", truncate(show(ex.Input), t.maxLen))
				}
				if ex.Error != "" {
					fmt.Fprintf(&b, "error: %s\n", truncate(ex.Error, 300))
				} else {
					fmt.Fprintf(&b, "value: %s\n", truncate(show(ex.Value), 300))
				}
			}
		}
	}
	return b.String()
}

func show(v any) string {
	if v == nil {
		return "nothing"
	}
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
