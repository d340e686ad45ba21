package simulator

import (
	"math/rand/v2"
	"regexp"
	"slices"
	"strings"
)

var optionRE = regexp.MustCompile(`(?m)^\(([A-Z])\)`)

// wrongText draws a plausible wrong answer for a non-numeric label, from the label's own shape:
// another option letter of the question, the other of a yes/no or true/false pair, or a word
// list with two neighbours swapped (or one word dropped). Nothing here knows a task family: the
// shape of the label and the options in the question are all it reads.
func wrongText(r *rand.Rand, target, question string) string {
	t := strings.TrimSpace(target)
	if m := regexp.MustCompile(`^\(([A-Z])\)$`).FindStringSubmatch(t); m != nil {
		var opts []string
		for _, o := range optionRE.FindAllStringSubmatch(question, -1) {
			if o[1] != m[1] && !slices.Contains(opts, o[1]) {
				opts = append(opts, o[1])
			}
		}
		if len(opts) == 0 {
			opts = []string{"A", "B", "C", "D"}
			opts = slices.DeleteFunc(opts, func(s string) bool { return s == m[1] })
		}
		return "(" + opts[r.IntN(len(opts))] + ")"
	}
	pairs := [][2]string{{"Yes", "No"}, {"yes", "no"}, {"True", "False"}, {"true", "false"}, {"valid", "invalid"}, {"plausible", "implausible"}}
	for _, p := range pairs {
		if t == p[0] {
			return p[1]
		}
		if t == p[1] {
			return p[0]
		}
	}
	words := strings.Fields(t)
	switch {
	case len(words) >= 2:
		i := r.IntN(len(words) - 1)
		if words[i] == words[i+1] || r.IntN(4) == 0 {
			return strings.Join(slices.Delete(slices.Clone(words), i, i+1), " ")
		}
		words[i], words[i+1] = words[i+1], words[i]
		return strings.Join(words, " ")
	case len(words) == 1 && len(t) > 1:
		return t[:len(t)-1]
	}
	return t + " " + t
}
