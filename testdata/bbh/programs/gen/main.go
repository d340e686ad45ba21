// Command gen writes reference programs for BBH object-counting items, so that the student
// simulator can answer program-aided requests for them (a reference program is what it corrupts
// or returns; without one it answers as for an unknown question).
//
// Which listed things belong to the asked category (fruits, vegetables, animals, musical
// instruments; for "objects", all of them) is read from code-davinci-002's recorded
// chain-of-thought outputs on the items it got right: those list exactly the counted things. A
// program is written only when the quantities of the category's things add up to the label;
// items whose things the recordings never classified get none.
//
//	go run ./testdata/bbh/programs/gen < testdata/bbh/object_counting.jsonl > testdata/bbh/programs/object_counting.jsonl
package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

type item struct {
	Idx      string            `json:"idx"`
	Input    string            `json:"input"`
	Target   string            `json:"target"`
	Recorded map[string]string `json:"recorded"`
}

var (
	askRE    = regexp.MustCompile(`How many ([a-z ]+) do I have\?`)
	listedRE = regexp.MustCompile(`(?m)^- (.+?) \((\d+)\)$`)
	answerRE = regexp.MustCompile(`answer is (\S+?)\.?\s*$`)
	words    = map[string]int{"a": 1, "an": 1, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6, "seven": 7, "eight": 8, "nine": 9, "ten": 10}
)

type thing struct {
	name string
	n    int
}

// things parses "I have a fridge, two lamps, and a car." into names and quantities.
func things(q string) []thing {
	body, _, _ := strings.Cut(strings.TrimPrefix(q, "I have "), ". How many")
	var out []thing
	for _, part := range regexp.MustCompile(`,\s*(?:and\s+)?|\s+and\s+`).Split(body, -1) {
		f := strings.Fields(part)
		if len(f) < 2 {
			continue
		}
		n, ok := words[f[0]]
		if !ok {
			if v, err := strconv.Atoi(f[0]); err == nil {
				n, ok = v, true
			}
		}
		if !ok {
			continue
		}
		out = append(out, thing{strings.Join(f[1:], " "), n})
	}
	return out
}

func main() {
	sc := bufio.NewScanner(os.Stdin)
	sc.Buffer(nil, 1<<20)
	var items []item
	for sc.Scan() {
		var it item
		if err := json.Unmarshal(sc.Bytes(), &it); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
		items = append(items, it)
	}
	member := map[string]map[string]bool{} // category -> names counted in a correct recording
	for _, it := range items {
		cot := it.Recorded["cot"]
		m := answerRE.FindStringSubmatch(cot)
		ask := askRE.FindStringSubmatch(it.Input)
		if m == nil || ask == nil || m[1] != it.Target {
			continue
		}
		if member[ask[1]] == nil {
			member[ask[1]] = map[string]bool{}
		}
		for _, l := range listedRE.FindAllStringSubmatch(cot, -1) {
			member[ask[1]][l[1]] = true
		}
	}
	// Things no correct recording classified: where exactly one choice of the unclassified
	// things makes the label, those things are members (repeated until nothing changes).
	for changed := true; changed; {
		changed = false
		for _, it := range items {
			ask := askRE.FindStringSubmatch(it.Input)
			if ask == nil || ask[1] == "objects" || member[ask[1]] == nil {
				continue
			}
			want, _ := strconv.Atoi(it.Target)
			var open []thing
			for _, t := range things(it.Input) {
				if member[ask[1]][t.name] {
					want -= t.n
				} else {
					open = append(open, t)
				}
			}
			if len(open) == 0 || len(open) > 12 || want < 0 {
				continue
			}
			var hits []int
			for mask := 0; mask < 1<<len(open); mask++ {
				s := 0
				for i, t := range open {
					if mask&(1<<i) != 0 {
						s += t.n
					}
				}
				if s == want {
					hits = append(hits, mask)
				}
			}
			if len(hits) == 1 && hits[0] != 0 {
				for i, t := range open {
					if hits[0]&(1<<i) != 0 {
						member[ask[1]][t.name] = true
						changed = true
					}
				}
			}
		}
	}
	out := json.NewEncoder(os.Stdout)
	out.SetEscapeHTML(false)
	written := 0
	for _, it := range items {
		ask := askRE.FindStringSubmatch(it.Input)
		if ask == nil {
			continue
		}
		var vars, names []string
		sum := 0
		for _, t := range things(it.Input) {
			if ask[1] != "objects" && !member[ask[1]][t.name] {
				continue
			}
			v := strings.NewReplacer(" ", "_", "-", "_").Replace(t.name)
			vars = append(vars, fmt.Sprintf("    %s = %d", v, t.n))
			names = append(names, v)
			sum += t.n
		}
		if strconv.Itoa(sum) != it.Target || len(names) == 0 {
			continue
		}
		code := "def solution():\n" + strings.Join(vars, "\n") + "\n    return " + strings.Join(names, " + ")
		if err := out.Encode(map[string]string{"idx": it.Idx, "input": it.Input, "target": it.Target, "code": code}); err != nil {
			os.Exit(1)
		}
		written++
	}
	fmt.Fprintf(os.Stderr, "gen: %d of %d items got a reference program\n", written, len(items))
}
