package simulator

import (
	"encoding/json"
	"math/rand/v2"
	"regexp"
	"strconv"
	"strings"
)

// Extraction requests ("list every item ... as one JSON object", "extract the quantities as
// JSON"). The recordings answer the question, not this sub-task, so extraction is simulated, and
// only where the knowledge says what the question states: the literal assignments of an item's
// reference program (`lamps = 4`) are its stated quantities, named as the program names them.
// The error model is the program's, deliberately not a new one: the same error rate for the
// item (programError, by statements) and the same shared fraction, and a wrong extraction is one
// of the program corruptions that can show in stated facts, a wrong value (a near miss, as a
// wrong operand) or, in one case of three when there are two or more, a fact left out (as a
// dropped line). Items without such a program are answered as direct questions.

// fact is one stated quantity: a name and its literal.
type fact struct {
	name string
	lit  string
}

var factLineRE = regexp.MustCompile(`^\s+([A-Za-z_][A-Za-z0-9_]*)\s*=\s*([0-9][0-9_]*(?:\.[0-9]+)?)\s*$`)

// statedFacts are the literal assignments of a reference program, in order.
func statedFacts(program string) []fact {
	var out []fact
	for _, l := range strings.Split(program, "\n") {
		if m := factLineRE.FindStringSubmatch(l); m != nil {
			out = append(out, fact{m[1], strings.ReplaceAll(m[2], "_", "")})
		}
	}
	return out
}

// factsJSON writes the facts as one JSON object, in order.
func factsJSON(fs []fact) string {
	var b strings.Builder
	b.WriteByte('{')
	for i, f := range fs {
		if i > 0 {
			b.WriteString(", ")
		}
		k, _ := json.Marshal(f.name)
		b.Write(k)
		b.WriteString(": ")
		b.WriteString(f.lit)
	}
	b.WriteByte('}')
	return b.String()
}

// corruptFacts changes one fact's value or leaves one out.
func corruptFacts(r *rand.Rand, fs []fact) []fact {
	out := append([]fact(nil), fs...)
	i := r.IntN(len(out))
	if len(out) >= 2 && r.IntN(3) == 0 {
		return append(out[:i], out[i+1:]...)
	}
	v, _ := strconv.ParseFloat(out[i].lit, 64)
	kinds := []string{"digit_slip", "arithmetic_slip", "magnitude"}
	isFloat := strings.Contains(out[i].lit, ".")
	rep := formatLiteral(nearMiss(r, v, kinds[r.IntN(len(kinds))], nil), isFloat)
	if rep == out[i].lit {
		rep = formatLiteral(v+1, isFloat)
	}
	out[i].lit = rep
	return out
}

// demoteExtract turns an extraction request the simulator cannot model into a direct one.
func demoteExtract(t taskKind) taskKind {
	if t == taskExtract {
		return taskDirect
	}
	return t
}
