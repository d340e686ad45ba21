package plans

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// ErrParse is wrapped by every error of ParseOutput: the reply did not hold a value of the
// parser's kind. The runtime branches on it (retry, count as a failed sample) as opposed to
// transport errors.
var ErrParse = errors.New("unparseable reply")

// MaxReplyBytes bounds the reply ParseOutput looks at; longer replies are cut from the front,
// since answers come last.
const MaxReplyBytes = 1 << 20

// ParseOutput turns a model's raw reply into the typed value of its parser:
//
//   - number: json.Number, exactly as the answer was written once cleaned ("1,234" -> 1234,
//     "$5" -> 5, "-3.5e6" stays, "3/4" -> 0.75); big integers stay exact.
//   - integer: json.Number holding an integer in plain digits ("7.0" and "7e3" are accepted
//     as 7 and 7000; "7.5" is an error).
//   - json: the first JSON object or array in the reply (fenced or not), decoded with numbers as
//     json.Number, checked against the schema.
//   - regex: the first match of the pattern, or of its group, as a string.
//   - text: the reply trimmed, as a string.
//   - code: the last fenced code block, or the whole reply when there is no fence, as a string.
//
// Every parser first drops reasoning the model wrapped in <think>...</think> (also an
// unterminated <think> and everything before a lone </think>).
func ParseOutput(p Parser, raw string) (any, error) {
	if len(raw) > MaxReplyBytes {
		raw = raw[len(raw)-MaxReplyBytes:]
	}
	text := StripThink(raw)
	switch p.Type {
	case ParserNumber:
		n, err := parseNumber(text)
		if err != nil {
			return nil, err
		}
		return n, nil
	case ParserInteger:
		n, err := parseNumber(text)
		if err != nil {
			return nil, err
		}
		r, ok := ratOf(string(n))
		if !ok || !r.IsInt() {
			return nil, fmt.Errorf("%w: %s is not an integer", ErrParse, n)
		}
		return json.Number(r.Num().String()), nil
	case ParserJSON:
		return parseJSON(text, p.Schema)
	case ParserRegex:
		re, err := compileGroup(p.Pattern, p.Group)
		if err != nil {
			return nil, err
		}
		return re.find(text)
	case ParserText:
		t := strings.TrimSpace(text)
		if t == "" {
			return nil, fmt.Errorf("%w: empty reply", ErrParse)
		}
		return t, nil
	case ParserCode:
		return parseCode(text)
	default:
		return nil, fmt.Errorf("unknown parser type %q", p.Type)
	}
}

var (
	thinkOpen  = regexp.MustCompile(`(?i)<think>`)
	thinkClose = regexp.MustCompile(`(?i)</think>`)
)

// StripThink removes reasoning blocks: <think>...</think> pairs, an unterminated <think> with
// everything after it, and everything up to a </think> that has no opening tag (chat templates
// that open the block in the prompt).
func StripThink(s string) string {
	if loc := thinkClose.FindStringIndex(s); loc != nil {
		if open := thinkOpen.FindStringIndex(s); open == nil || open[0] > loc[0] {
			s = s[loc[1]:]
		}
	}
	var b strings.Builder
	for {
		open := thinkOpen.FindStringIndex(s)
		if open == nil {
			b.WriteString(s)
			break
		}
		b.WriteString(s[:open[0]])
		rest := s[open[1]:]
		close := thinkClose.FindStringIndex(rest)
		if close == nil {
			break
		}
		s = rest[close[1]:]
	}
	return b.String()
}

// numberRE finds number candidates. Group 1: a fraction a/b; group 2: a decimal number with
// optional thousands separators (",", thin or narrow no-break spaces, in groups of three),
// fraction and exponent. Signs, currency and markdown are handled around the match.
var numberRE = regexp.MustCompile(`(\d+\s*/\s*\d+)(?:[^\d.,]|$)|((?:\d{1,3}(?:[,\x{2009}\x{202F}]\d{3})+|\d+)(?:\.\d+)?(?:[eE][+-]?\d+)?|\.\d+(?:[eE][+-]?\d+)?)`)

// answerAt matches an explicit final-answer marker at the start of its (ASCII lower-cased)
// input. "result" counts only when a number follows at once, so "the result is that..." does
// not hide the real answer.
var answerAt = regexp.MustCompile(`^(?:\\boxed\s*\{|####|final answer\s*(?:is)?\s*[:=]?|answer\s*(?:is|:|=)|result\s*(?:is|:|=)\s*(?:\*\*)?\s*\$?\s*-?\d)`)

// markerWords are literal prefixes of the answerAt alternatives; looking for them with
// strings.LastIndex is much cheaper than running the expression at every offset.
var markerWords = []string{`\boxed`, "####", "final answer", "answer", "result"}

// lastMarker returns the offset where the text after the last final-answer marker starts, or
// -1, and whether that marker is \boxed{ (whose number ends at the closing brace).
func lastMarker(text string) (int, bool) {
	lower := asciiLower(text)
	bestStart, bestEnd, boxed := -1, -1, false
	for _, w := range markerWords {
		for end := len(lower); ; {
			i := strings.LastIndex(lower[:end], w)
			if i <= bestStart {
				break
			}
			if m := answerAt.FindStringIndex(lower[i:]); m != nil {
				bestStart, bestEnd, boxed = i, i+m[1], w == `\boxed`
				if w == "result" {
					bestEnd = i + len(w) // the match ran into the number itself
				}
				break
			}
			end = i + len(w) - 1
		}
	}
	return bestEnd, boxed
}

// asciiLower lower-cases ASCII letters only, so byte offsets stay valid.
func asciiLower(s string) string {
	b := []byte(s)
	for i, c := range b {
		if c >= 'A' && c <= 'Z' {
			b[i] = c + 'a' - 'A'
		}
	}
	return string(b)
}

var (
	latexFrac  = regexp.MustCompile(`\\[dt]?frac\s*\{\s*(-?[\d.,]+)\s*\}\s*\{\s*(-?[\d.,]+)\s*\}`)
	latexGroup = regexp.MustCompile(`(\d)(?:\{,\}|\\,|\\!|\\ )(\d{3})`)
)

// parseNumber extracts the answer number of a reply.
func parseNumber(text string) (json.Number, error) {
	text = strings.ReplaceAll(text, "```", "\n")
	if strings.Contains(text, `\`) || strings.Contains(text, "{,}") {
		// LaTeX, as math-tuned models write it: \frac{3}{4} is 3/4, 1{,}234 and 1\,234 are 1,234.
		text = latexFrac.ReplaceAllString(text, "$1/$2")
		for i := 0; i < 4 && latexGroup.MatchString(text); i++ {
			text = latexGroup.ReplaceAllString(text, "$1,$2")
		}
	}
	if start, boxed := lastMarker(text); start >= 0 {
		seg := text[start:]
		if boxed {
			if end := strings.IndexByte(seg, '}'); end >= 0 {
				seg = seg[:end]
			}
		}
		if n, ok := firstNumber(seg); ok {
			return n, nil
		}
	}
	if n, ok := lastNumber(text); ok {
		return n, nil
	}
	return "", fmt.Errorf("%w: no number in the reply", ErrParse)
}

func firstNumber(s string) (json.Number, bool) {
	for _, m := range numberRE.FindAllStringSubmatchIndex(s, -1) {
		if n, ok := cleanNumber(s, m); ok {
			return n, true
		}
	}
	return "", false
}

func lastNumber(s string) (json.Number, bool) {
	ms := numberRE.FindAllStringSubmatchIndex(s, -1)
	for i := len(ms) - 1; i >= 0; i-- {
		if n, ok := cleanNumber(s, ms[i]); ok {
			return n, true
		}
	}
	return "", false
}

// cleanNumber turns one numberRE match into a JSON number, applying a sign written before it
// (after currency symbols and markdown emphasis) but not a hyphen that joins words or ranges.
func cleanNumber(s string, m []int) (json.Number, bool) {
	var lit string
	start := m[0]
	frac := m[2] >= 0
	if frac {
		lit, start = s[m[2]:m[3]], m[2]
	} else {
		lit = s[m[4]:m[5]]
	}
	// Walk back over currency symbols and markdown emphasis to a sign that touches them.
	neg := false
	j := start
	for j > 0 {
		r, size := utf8.DecodeLastRuneInString(s[:j])
		if !strings.ContainsRune("$€£*_", r) || start-j > 8 {
			break
		}
		j -= size
	}
	if j > 0 {
		if r, size := utf8.DecodeLastRuneInString(s[:j]); r == '-' || r == '−' {
			k := j - size
			prev, _ := utf8.DecodeLastRuneInString(s[:k])
			if k == 0 || !(unicode.IsLetter(prev) || unicode.IsDigit(prev) || prev == '_' || prev == '-') {
				neg = true
			}
		}
	}
	if frac {
		a, b, _ := strings.Cut(lit, "/")
		num, ok1 := new(big.Int).SetString(strings.TrimSpace(a), 10)
		den, ok2 := new(big.Int).SetString(strings.TrimSpace(b), 10)
		if !ok1 || !ok2 || den.Sign() == 0 || len(a) > 30 || len(b) > 30 {
			return "", false
		}
		r := new(big.Rat).SetFrac(num, den)
		if neg {
			r.Neg(r)
		}
		return ratNumber(r), true
	}
	lit = strings.NewReplacer(",", "", "\u2009", "", "\u202f", "").Replace(lit)
	if strings.HasPrefix(lit, ".") {
		lit = "0" + lit
	}
	lit = trimLeadingZeros(lit)
	if neg && strings.Trim(lit, "0.") != "" {
		lit = "-" + lit
	}
	if !json.Valid([]byte(lit)) {
		return "", false
	}
	return json.Number(lit), true
}

// trimLeadingZeros turns "007" into "7" and "00.5" into "0.5" so that the result is valid JSON.
func trimLeadingZeros(lit string) string {
	i := 0
	for i+1 < len(lit) && lit[i] == '0' && lit[i+1] >= '0' && lit[i+1] <= '9' {
		i++
	}
	return lit[i:]
}

// ratNumber formats a rational exactly when its decimal expansion ends, else as the shortest
// form of the nearest float64.
func ratNumber(r *big.Rat) json.Number {
	if r.IsInt() {
		return json.Number(r.Num().String())
	}
	// A fraction terminates iff the reduced denominator has no prime factors other than 2 and 5.
	d := new(big.Int).Set(r.Denom())
	two, five := big.NewInt(2), big.NewInt(5)
	digits := 0
	for new(big.Int).Mod(d, two).Sign() == 0 {
		d.Div(d, two)
		digits++
	}
	fives := 0
	for new(big.Int).Mod(d, five).Sign() == 0 {
		d.Div(d, five)
		fives++
	}
	if d.Cmp(big.NewInt(1)) == 0 {
		s := r.FloatString(max(digits, fives))
		return json.Number(s)
	}
	f, _ := r.Float64()
	return json.Number(strconv.FormatFloat(f, 'g', -1, 64))
}

var fenceRE = regexp.MustCompile("(?m)^[ \t]*```")

// fencedBlocks returns the contents of complete ``` blocks and whether an opening fence was
// left unclosed.
func fencedBlocks(text string) (blocks []string, unclosed bool) {
	locs := fenceRE.FindAllStringIndex(text, -1)
	for i := 0; i < len(locs); i += 2 {
		open := locs[i]
		// The opening fence line may carry a language tag; content starts on the next line.
		body := text[open[1]:]
		nl := strings.IndexByte(body, '\n')
		if i+1 >= len(locs) {
			return blocks, true
		}
		closeAt := locs[i+1][0] - open[1]
		if nl < 0 || nl > closeAt {
			blocks = append(blocks, body[:closeAt])
			continue
		}
		blocks = append(blocks, body[nl+1:closeAt])
	}
	return blocks, false
}

func parseCode(text string) (any, error) {
	blocks, unclosed := fencedBlocks(text)
	switch {
	case len(blocks) > 0 && !unclosed:
		code := strings.TrimSpace(blocks[len(blocks)-1])
		if code == "" {
			return nil, fmt.Errorf("%w: the last code block is empty", ErrParse)
		}
		return code + "\n", nil
	case unclosed:
		return nil, fmt.Errorf("%w: a code block is not closed (reply cut off by max_tokens?)", ErrParse)
	}
	code := strings.TrimSpace(text)
	if code == "" {
		return nil, fmt.Errorf("%w: empty reply", ErrParse)
	}
	return code + "\n", nil
}

// maxJSONAttempts bounds how many opening brackets parseJSON tries, so that a hostile reply
// full of "{" costs linear time.
const maxJSONAttempts = 32

func parseJSON(text string, schema map[string]any) (any, error) {
	var candidates []string
	if blocks, _ := fencedBlocks(text); len(blocks) > 0 {
		candidates = append(candidates, blocks...)
	}
	candidates = append(candidates, text)
	var firstErr error
	attempts := 0
	for _, c := range candidates {
		for off := 0; off < len(c) && attempts < maxJSONAttempts; {
			i := strings.IndexAny(c[off:], "{[")
			if i < 0 {
				break
			}
			attempts++
			dec := json.NewDecoder(bytes.NewReader([]byte(c[off+i:])))
			dec.UseNumber()
			var v any
			if err := dec.Decode(&v); err == nil {
				if schema != nil {
					if err := matchSchema(schema, v, ""); err != nil {
						if firstErr == nil {
							firstErr = fmt.Errorf("%w: %v", ErrParse, err)
						}
						off += i + 1
						continue
					}
				}
				return v, nil
			}
			off += i + 1
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return nil, fmt.Errorf("%w: no JSON object or array in the reply", ErrParse)
}

// groupRE is a compiled regex parser.
type groupRE struct {
	re    *regexp.Regexp
	group int
}

// compileGroup compiles an RE2 pattern and resolves the group (a name, a number or "" for the
// whole match).
func compileGroup(pattern, group string) (*groupRE, error) {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("pattern does not compile (RE2 syntax): %v", err)
	}
	g := 0
	switch {
	case group == "":
	case isDigits(group):
		g, _ = strconv.Atoi(group)
		if g > re.NumSubexp() {
			return nil, fmt.Errorf("group %s does not exist: the pattern has %d groups", group, re.NumSubexp())
		}
	default:
		g = re.SubexpIndex(group)
		if g < 0 {
			return nil, fmt.Errorf("the pattern has no group named %q", group)
		}
	}
	return &groupRE{re: re, group: g}, nil
}

func isDigits(s string) bool {
	if s == "" || len(s) > 4 {
		return false
	}
	for _, c := range s {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

func (g *groupRE) find(text string) (any, error) {
	m := g.re.FindStringSubmatchIndex(text)
	if m == nil {
		return nil, fmt.Errorf("%w: the pattern does not match", ErrParse)
	}
	if m[2*g.group] < 0 {
		return nil, fmt.Errorf("%w: group %d did not take part in the match", ErrParse, g.group)
	}
	return text[m[2*g.group]:m[2*g.group+1]], nil
}
