package teachersim

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"
	"unicode"
)

// A frontier model shown that one edit helped some items and hurt others proposes to route:
// it looks for what the helped questions share and the hurt ones lack, writes that test as Go,
// and gives the edit to the branch of the helped side only. The simulated teacher does the same
// from the "## Mixed" section of the request: its features are the questions' words and whether
// they contain a digit, read from the plan inputs shown, never from a task name or label.

// minRuleAccuracy is the least share of the shown helped and hurt items a rule must put on
// their side before the teacher proposes it.
const minRuleAccuracy = 0.8

// Branch names of the teacher's routes.
const (
	branchEdited = "edited"
	branchKept   = "kept"
)

// rule is a partition test over one text input: whether it has word (or, when word is "", a
// digit), and which side that means.
type rule struct {
	input  string
	word   string
	edited bool // presence sends the item to the edited branch
	acc    float64
	n      int
}

func simWordSep(r rune) bool {
	return unicode.IsSpace(r) || strings.ContainsRune(",.?\"'", r)
}

// has reports whether the rule's feature is present in text.
func (r rule) has(text string) bool {
	if r.word == "" {
		return strings.ContainsAny(text, "0123456789")
	}
	for _, w := range strings.FieldsFunc(text, simWordSep) {
		if w == r.word {
			return true
		}
	}
	return false
}

// branch is the branch the rule picks for text.
func (r rule) branch(text string) string {
	if r.has(text) == r.edited {
		return branchEdited
	}
	return branchKept
}

// learnRule finds the feature that best separates the helped from the hurt items' text input:
// ties go to the digit test, then to shorter and smaller words, so the reply is deterministic.
func learnRule(m *mixedEvidence) (rule, bool) {
	input := ""
	for k, v := range m.helped[0] {
		if _, ok := v.(string); ok {
			if input != "" {
				return rule{}, false // several text inputs: no single field to test
			}
			input = k
		}
	}
	if input == "" {
		return rule{}, false
	}
	type ex struct {
		text   string
		helped bool
	}
	var exs []ex
	vocab := map[string]bool{}
	for _, side := range []struct {
		items  []map[string]any
		helped bool
	}{{m.helped, true}, {m.hurt, false}} {
		for _, in := range side.items {
			text, _ := in[input].(string)
			exs = append(exs, ex{text, side.helped})
			for _, w := range strings.FieldsFunc(text, simWordSep) {
				if len(w) <= 64 {
					vocab[w] = true
				}
			}
		}
	}
	words := []string{""}
	for w := range vocab {
		words = append(words, w)
	}
	sort.Slice(words, func(i, j int) bool {
		if len(words[i]) != len(words[j]) {
			return len(words[i]) < len(words[j])
		}
		return words[i] < words[j]
	})
	var best rule
	for _, w := range words {
		r := rule{input: input, word: w, edited: true, n: len(exs)}
		right := 0
		for _, e := range exs {
			if r.has(e.text) == e.helped {
				right++
			}
		}
		for _, edited := range []bool{true, false} {
			k := right
			if !edited {
				k = len(exs) - right
			}
			if acc := float64(k) / float64(len(exs)); acc > best.acc {
				best = rule{input: input, word: w, edited: edited, acc: acc, n: len(exs)}
			}
		}
	}
	return best, best.acc >= minRuleAccuracy
}

// String says the rule in words, for the critique and the rationale.
func (r rule) String() string {
	feat := "contains a digit"
	if r.word != "" {
		feat = fmt.Sprintf("has the word %q", r.word)
	}
	side := branchEdited
	if !r.edited {
		side = branchKept
	}
	return fmt.Sprintf("an item whose %s %s goes to %s (%.0f%% of the %d shown items)", r.input, feat, side, 100*r.acc, r.n)
}

// source is the code classifier for r.
func (r rule) source() string {
	present, absent := branchEdited, branchKept
	if !r.edited {
		present, absent = absent, present
	}
	test := `strings.ContainsAny(text, "0123456789")`
	if r.word != "" {
		test = fmt.Sprintf("hasWord(text, %q)", r.word)
	}
	return fmt.Sprintf(`package main

import (
	"strings"
	"unicode"

	"github.com/sgde-project/sgde/wasm/guest"
)

// hasWord reports whether w is one of the words of text.
func hasWord(text, w string) bool {
	for _, f := range strings.FieldsFunc(text, func(r rune) bool {
		return unicode.IsSpace(r) || strings.ContainsRune(",.?\"'", r)
	}) {
		if f == w {
			return true
		}
	}
	return false
}

func main() {
	guest.Run(func(in map[string]any) (map[string]any, error) {
		text, _ := in["text"].(string)
		if %s {
			return map[string]any{"branch": %q}, nil
		}
		return map[string]any{"branch": %q}, nil
	})
}
`, test, present, absent)
}

// routeAnswer is the route candidate for mixed evidence, or ok=false when no feature of the
// shown inputs separates the two sides.
func routeAnswer(r request, fault string) (answer, bool) {
	m := r.mixed
	ru, ok := learnRule(m)
	if !ok {
		return answer{}, false
	}
	var edits []any
	if err := json.Unmarshal(m.edits, &edits); err != nil || len(edits) == 0 {
		return answer{}, false
	}
	src := hostile(fault, ru.source())
	if fault == FaultBuild {
		src = strings.Replace(src, `in["text"]`, `in[textField]`, 1) // an undefined name
	}
	a := answer{fault: fault, family: "route", critique: map[string]string{
		"plan": fmt.Sprintf("The last candidate helped %d shown items and hurt %d: one plan does not suit both groups; %s.", len(m.helped), len(m.hurt), ru),
	}}
	a.cands = append(a.cands, map[string]any{
		"rationale": "route: give the edit only to the items it helps (" + ru.String() + ")",
		"edits": []any{map[string]any{
			"action": "route",
			"classifier": map[string]any{"substrate": "code", "source": src,
				"inputs": map[string]string{"text": "inputs." + ru.input}},
			"branches": []any{
				map[string]any{"name": branchEdited, "edits": edits},
				map[string]any{"name": branchKept, "edits": []any{}},
			},
			"default": branchKept,
		}},
	})
	return a, true
}
