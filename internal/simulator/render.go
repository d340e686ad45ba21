package simulator

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strconv"
	"strings"
)

// formatNumber writes v the way a dataset label is compared: integers without a fraction, other
// values with the shortest exact decimal.
func formatNumber(v float64) string {
	if v == math.Trunc(v) && math.Abs(v) < 1e18 {
		return strconv.FormatFloat(v, 'f', 0, 64)
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// withThousands inserts thousands separators into the integer part of a formatted number.
func withThousands(s string) string {
	sign := ""
	if strings.HasPrefix(s, "-") {
		sign, s = "-", s[1:]
	}
	ip, frac, hasFrac := strings.Cut(s, ".")
	if len(ip) <= 3 {
		return sign + s
	}
	var b strings.Builder
	for i, c := range ip {
		if i > 0 && (len(ip)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	if hasFrac {
		return sign + b.String() + "." + frac
	}
	return sign + b.String()
}

// dollar writes v as a dollar amount ("$1,234", "-$5").
func dollar(v float64) string {
	s := withThousands(formatNumber(v))
	if strings.HasPrefix(s, "-") {
		return "-$" + s[1:]
	}
	return "$" + s
}

// reasoning writes a few fluent but contentless steps around the operands, to give prose answers
// a realistic length and shape.
func reasoning(r *rand.Rand, operands []float64) string {
	openers := []string{"Let's think step by step.", "Let's solve this step by step.", "We need to work through the quantities given."}
	var b strings.Builder
	b.WriteString(openers[r.IntN(len(openers))])
	b.WriteString("\n\n")
	n := min(len(operands), 2+r.IntN(3))
	for i := 0; i < n; i++ {
		verbs := []string{"We start from", "Next we use", "Then we account for", "We combine this with"}
		fmt.Fprintf(&b, "%d. %s %s.\n", i+1, verbs[min(i, len(verbs)-1)], withThousands(formatNumber(operands[i])))
	}
	if n == 0 {
		b.WriteString("Working through the arithmetic carefully.\n")
	}
	return b.String()
}

// renderDirect writes a direct answer. A compliant answer follows the prompt's format; otherwise
// the answer is wrapped the way small models wrap it.
func renderDirect(r *rand.Rand, p Profile, pi promptInfo, v float64, operands []float64, compliant bool) string {
	num := formatNumber(v)
	if compliant {
		switch pi.style {
		case styleLabel:
			return pi.label + ": " + num
		case styleHashes:
			return strings.TrimRight(reasoning(r, operands), "\n") + "\n#### " + num
		case styleSentence:
			return "The answer is " + num + "."
		}
		return num
	}
	switch p.directShapes.kinds[p.directShapes.pick(r)] {
	case "prose":
		return reasoning(r, operands) + "\nSo the answer is " + withThousands(num) + "."
	case "bold":
		return "The final answer is **" + withThousands(num) + "**."
	case "dollar":
		return "They make " + dollar(v) + " in total."
	case "fenced":
		return "```\n" + num + "\n```"
	case "think":
		return "<think>\n" + reasoning(r, operands) + "\nThe result should be " + num + ".\n</think>\n\n" + withThousands(num)
	default: // sentence
		return "The answer is " + num + "."
	}
}

// renderProgram writes a program answer.
func renderProgram(r *rand.Rand, p Profile, pi promptInfo, prog string, compliant bool) string {
	if compliant {
		if pi.noFence {
			return prog
		}
		return "```python\n" + prog + "\n```"
	}
	switch p.programShapes.kinds[p.programShapes.pick(r)] {
	case "prose_fence":
		intros := []string{"Here is a Python program that solves the problem:", "Sure! We can compute this with a short program.", "To solve this, we define `solution()`:"}
		return intros[r.IntN(len(intros))] + "\n\n```python\n" + prog + "\n```\n\nCalling `solution()` returns the answer."
	case "plain_fence":
		return "```\n" + prog + "\n```"
	case "think":
		return "<think>\nI need to translate each quantity into a variable and combine them.\n</think>\n\n```python\n" + prog + "\n```"
	default: // bare
		return prog
	}
}

// renderJSON writes the answer as the JSON object response_format asks for. The key and value
// type come from the schema's properties when there is one.
func renderJSON(task taskKind, value float64, prog string, schema *jsonSchemaShape) string {
	obj := map[string]any{}
	if schema == nil || len(schema.props) == 0 {
		if task == taskProgram {
			obj["program"] = prog
		} else {
			obj["answer"] = json.Number(formatNumber(value))
		}
		b, _ := json.Marshal(obj)
		return string(b)
	}
	key := schema.answerKey(task)
	for _, name := range schema.fill() {
		typ := schema.props[name]
		obj[name] = filler(typ)
	}
	if key != "" {
		obj[key] = typedValue(task, schema.props[key], value, prog)
	} else { // no property fits: answer under the conventional key
		if task == taskProgram {
			obj["program"] = prog
		} else {
			obj["answer"] = json.Number(formatNumber(value))
		}
	}
	b, _ := json.Marshal(obj)
	return string(b)
}

func typedValue(task taskKind, typ string, value float64, prog string) any {
	if task == taskProgram {
		return prog
	}
	switch typ {
	case "string":
		return formatNumber(value)
	case "integer":
		if value == math.Trunc(value) {
			return json.Number(formatNumber(value))
		}
		return json.Number(strconv.FormatFloat(math.Round(value), 'f', 0, 64))
	}
	return json.Number(formatNumber(value))
}

func filler(typ string) any {
	switch typ {
	case "number", "integer":
		return 0
	case "boolean":
		return true
	case "array":
		return []any{}
	case "object":
		return map[string]any{}
	case "null":
		return nil
	}
	return "I worked through the quantities step by step."
}

// renderText writes a non-numeric answer ("(D)", "Yes", a word list). A compliant answer is the
// bare answer, or the prompt's label and the answer; otherwise it is wrapped in a sentence, bold
// or a short preamble, as small models do.
func renderText(r *rand.Rand, pi promptInfo, ans string, compliant bool) string {
	if compliant {
		if pi.style == styleLabel {
			return pi.label + ": " + ans
		}
		if pi.style == styleSentence {
			return "The answer is " + ans + "."
		}
		return ans
	}
	switch r.IntN(4) {
	case 0:
		return "The answer is " + ans + "."
	case 1:
		return "**" + ans + "**"
	case 2:
		return "Let's think about it. Reading the question carefully, the answer is " + ans + "."
	default:
		return "Answer: " + ans
	}
}
