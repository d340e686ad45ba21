// Command arith_program is a code node that evaluates the small Python programs models write for
// math word problems (PAL style): a `def solution():` whose body computes a number and returns it.
//
// Input {"program": "<python source>"}; output {"answer": <number literal>}, plus "inexact": true
// when a step had to go through float64 (fractional powers, sqrt of a non-square, log, ...).
//
// It is an interpreter for a small subset of Python, not a sandbox escape hatch: there is no I/O,
// no strings beyond literals, no imports but math. Arithmetic is exact (math/big.Rat) while
// keeping Python's int/float distinction, so `/` is a true quotient, `//` floors, `%` takes the
// divisor's sign, int() truncates and round() rounds half to even. Every resource a hostile
// program could grow is capped (source size, parser nesting, evaluation depth, steps, digits,
// list length) so the node fails with a clear error before the sandbox's fuel or memory limit.
//
// Deliberate departures from CPython: float arithmetic is exact here, so 0.1 + 0.2 == 0.3 is True
// and int(4.35 * 100) is 435 (CPython: 434). Functions that cut a float to an integer (int,
// round, math.floor, math.ceil, math.trunc) first snap the float to the nearest float64, so
// literals behave as in CPython: round(2.675, 2) == 2.67, int(2.9999999999999999) == 3.
package main

import (
	"errors"
	"math"
	"math/big"
	"math/bits"
	"sort"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/sgde-project/sgde/wasm/guest"
)

// Limits. Each one turns a way a hostile program could exhaust the sandbox into a clear error.
const (
	maxProgramBytes = 64 << 10 // source size
	// maxSteps bounds the work of one program. A step is one statement, expression node or loop
	// iteration; arithmetic outside the small-int fast path costs more (see bigCost). The budget
	// keeps the slowest programs well inside the sandbox's default limits while leaving GSM-Hard
	// programs a wide margin (steps used and seconds per budget: docs/BENCHMARKS.md,
	// "arith_program").
	maxSteps        = 200_000
	maxNesting      = 100   // parser recursion: parentheses, unary operators, not, ternaries
	maxBlockDepth   = 50    // indentation levels
	maxEvalDepth    = 1000  // evaluator recursion: nested expressions, blocks and calls together
	maxCallDepth    = 100   // user-function recursion
	maxIntBits      = 34000 // about 10,000 decimal digits, for ints and exact floats alike
	maxLiteralChars = 10000 // one numeric literal
	maxListLen      = 100_000
	// A float whose exact numerator and denominator both grow past floatRoundBits (e.g. a loop
	// that multiplies by 1.0001 thousands of times) is rounded to floatPrec bits and marked
	// inexact: CPython rounds to 53 bits at every step, so this keeps far more precision than the
	// program could rely on, without letting the rational (and the cost of every operation on
	// it) grow without bound. Values like 1e-200 (numerator 1) are never rounded.
	floatRoundBits = 256
	floatPrec      = 128
)

func main() { guest.Run(solve) }

// number is a JSON number literal. It marshals to itself so that integers keep every digit;
// on the wire it is what a json.Number would give (encoding/json is not on the import list).
type number string

// MarshalJSON emits the literal unquoted.
func (n number) MarshalJSON() ([]byte, error) { return []byte(n), nil }

func solve(in map[string]any) (map[string]any, error) {
	src, ok := in["program"].(string)
	if !ok {
		return nil, errors.New(`input needs a string field "program"`)
	}
	v, err := runProgram(src)
	if err != nil {
		return nil, err
	}
	var ans string
	if v.isSmall() {
		ans = strconv.FormatInt(v.small, 10) // what formatRat gives for an integer, unboxed
	} else {
		ans = formatRat(v.num)
	}
	out := map[string]any{"answer": number(ans)}
	if v.inexact {
		out["inexact"] = true
	}
	return out, nil
}

// runProgram executes the module body, calls solution() and returns its numeric result.
func runProgram(src string) (value, error) {
	if len(src) > maxProgramBytes {
		return value{}, errors.New("program too large: " + strconv.Itoa(len(src)) + " bytes, limit " + strconv.Itoa(maxProgramBytes))
	}
	if !utf8.ValidString(src) {
		return value{}, errors.New("program is not valid UTF-8")
	}
	toks, err := tokenize(src)
	if err != nil {
		return value{}, err
	}
	p := &parser{toks: toks}
	body, err := p.parseFile()
	if err != nil {
		return value{}, err
	}
	it := &interp{nsyms: len(p.syms)}
	it.globals = it.newEnv(nil)
	if id, ok := p.findSym("__name__"); ok { // no name can read it otherwise
		it.set(it.globals, id, value{k: kStr, str: "__main__"})
	}
	if _, _, err := it.execBlock(body, it.globals); err != nil {
		return value{}, err
	}
	var fn value
	id, ok := p.findSym("solution")
	if ok {
		var i int
		if i = it.globals.find(id); i < 0 {
			ok = false
		} else {
			fn = it.globals.slots[i].v
		}
	}
	if !ok || fn.k != kFunc {
		return value{}, errors.New("program defines no solution() function")
	}
	res, err := it.call(fn, nil, fn.fn.line)
	if err != nil {
		return value{}, err
	}
	switch res.k {
	case kInt, kFloat, kBool:
		return res, nil
	case kNone:
		return value{}, errors.New("solution() returned None, want a number")
	}
	return value{}, errors.New("solution() returned a " + typeName(res) + ", want a number")
}

// progError is every error the node reports about the program: syntax or runtime, with a line.
type progError struct {
	line   int
	msg    string
	syntax bool
}

func (e *progError) Error() string {
	if e.syntax {
		return "line " + strconv.Itoa(e.line) + ": syntax error: " + e.msg
	}
	return "line " + strconv.Itoa(e.line) + ": " + e.msg
}

func syntaxErr(line int, msg string) error { return &progError{line: line, msg: msg, syntax: true} }
func runErr(line int, msg string) error    { return &progError{line: line, msg: msg} }

// ---------------------------------------------------------------------------------------------
// Tokenizer

type tokKind uint8

const (
	tEOF tokKind = iota
	tNewline
	tIndent
	tDedent
	tName
	tNumber
	tString
	tOp
)

type token struct {
	kind tokKind
	kw   bool   // tName: a reserved word (set once here so the parser never looks it up)
	text string // a substring of the source; for tString: the raw text between the quotes
	line int
}

// The lexer is written for its cost under wasm, where every instruction is metered: operators
// are matched by a byte switch, identifiers by an ASCII test (unicode only for bytes >= 0x80),
// positions are kept in locals in the loops, and every token's text is a substring of the
// source, so lexing allocates nothing but the token slice.

type lexer struct {
	src     string
	pos     int
	line    int
	depth   int      // open brackets: newlines inside them join lines
	indents []string // the exact whitespace of each open indentation level
	toks    []token
}

// Byte classes for the lexer's dispatch; cOther is an operator or an invalid character.
const (
	cOther uint8 = iota
	cSpace
	cHash
	cBackslash
	cNewline
	cDigit
	cQuote
	cName // a letter, '_', or any byte >= 0x80 (the first byte of a non-ASCII name)
)

var byteClass = [256]uint8{
	'\t': cSpace, '\n': cNewline, '\f': cSpace, '\r': cNewline, ' ': cSpace, '"': cQuote, '#': cHash,
	'\'': cQuote, '0': cDigit, '1': cDigit, '2': cDigit, '3': cDigit, '4': cDigit, '5': cDigit,
	'6': cDigit, '7': cDigit, '8': cDigit, '9': cDigit, 'A': cName, 'B': cName, 'C': cName,
	'D': cName, 'E': cName, 'F': cName, 'G': cName, 'H': cName, 'I': cName, 'J': cName, 'K': cName,
	'L': cName, 'M': cName, 'N': cName, 'O': cName, 'P': cName, 'Q': cName, 'R': cName, 'S': cName,
	'T': cName, 'U': cName, 'V': cName, 'W': cName, 'X': cName, 'Y': cName, 'Z': cName,
	'\\': cBackslash, '_': cName, 'a': cName, 'b': cName, 'c': cName, 'd': cName, 'e': cName,
	'f': cName, 'g': cName, 'h': cName, 'i': cName, 'j': cName, 'k': cName, 'l': cName, 'm': cName,
	'n': cName, 'o': cName, 'p': cName, 'q': cName, 'r': cName, 's': cName, 't': cName, 'u': cName,
	'v': cName, 'w': cName, 'x': cName, 'y': cName, 'z': cName,
	// Bytes >= 0x80 start a non-ASCII name: lexer.name decodes and checks the rune.
	0x80: cName, 0x81: cName, 0x82: cName, 0x83: cName, 0x84: cName, 0x85: cName, 0x86: cName, 0x87: cName,
	0x88: cName, 0x89: cName, 0x8a: cName, 0x8b: cName, 0x8c: cName, 0x8d: cName, 0x8e: cName, 0x8f: cName,
	0x90: cName, 0x91: cName, 0x92: cName, 0x93: cName, 0x94: cName, 0x95: cName, 0x96: cName, 0x97: cName,
	0x98: cName, 0x99: cName, 0x9a: cName, 0x9b: cName, 0x9c: cName, 0x9d: cName, 0x9e: cName, 0x9f: cName,
	0xa0: cName, 0xa1: cName, 0xa2: cName, 0xa3: cName, 0xa4: cName, 0xa5: cName, 0xa6: cName, 0xa7: cName,
	0xa8: cName, 0xa9: cName, 0xaa: cName, 0xab: cName, 0xac: cName, 0xad: cName, 0xae: cName, 0xaf: cName,
	0xb0: cName, 0xb1: cName, 0xb2: cName, 0xb3: cName, 0xb4: cName, 0xb5: cName, 0xb6: cName, 0xb7: cName,
	0xb8: cName, 0xb9: cName, 0xba: cName, 0xbb: cName, 0xbc: cName, 0xbd: cName, 0xbe: cName, 0xbf: cName,
	0xc0: cName, 0xc1: cName, 0xc2: cName, 0xc3: cName, 0xc4: cName, 0xc5: cName, 0xc6: cName, 0xc7: cName,
	0xc8: cName, 0xc9: cName, 0xca: cName, 0xcb: cName, 0xcc: cName, 0xcd: cName, 0xce: cName, 0xcf: cName,
	0xd0: cName, 0xd1: cName, 0xd2: cName, 0xd3: cName, 0xd4: cName, 0xd5: cName, 0xd6: cName, 0xd7: cName,
	0xd8: cName, 0xd9: cName, 0xda: cName, 0xdb: cName, 0xdc: cName, 0xdd: cName, 0xde: cName, 0xdf: cName,
	0xe0: cName, 0xe1: cName, 0xe2: cName, 0xe3: cName, 0xe4: cName, 0xe5: cName, 0xe6: cName, 0xe7: cName,
	0xe8: cName, 0xe9: cName, 0xea: cName, 0xeb: cName, 0xec: cName, 0xed: cName, 0xee: cName, 0xef: cName,
	0xf0: cName, 0xf1: cName, 0xf2: cName, 0xf3: cName, 0xf4: cName, 0xf5: cName, 0xf6: cName, 0xf7: cName,
	0xf8: cName, 0xf9: cName, 0xfa: cName, 0xfb: cName, 0xfc: cName, 0xfd: cName, 0xfe: cName, 0xff: cName,
}

// identASCII marks the ASCII bytes that continue an identifier: letters, digits and '_'.
var identASCII = [256]bool{
	'0': true, '1': true, '2': true, '3': true, '4': true, '5': true, '6': true, '7': true, '8': true,
	'9': true, 'A': true, 'B': true, 'C': true, 'D': true, 'E': true, 'F': true, 'G': true, 'H': true,
	'I': true, 'J': true, 'K': true, 'L': true, 'M': true, 'N': true, 'O': true, 'P': true, 'Q': true,
	'R': true, 'S': true, 'T': true, 'U': true, 'V': true, 'W': true, 'X': true, 'Y': true, 'Z': true,
	'_': true, 'a': true, 'b': true, 'c': true, 'd': true, 'e': true, 'f': true, 'g': true, 'h': true,
	'i': true, 'j': true, 'k': true, 'l': true, 'm': true, 'n': true, 'o': true, 'p': true, 'q': true,
	'r': true, 's': true, 't': true, 'u': true, 'v': true, 'w': true, 'x': true, 'y': true, 'z': true,
}

// isLetterASCII reports whether an ASCII byte is a letter (what unicode.IsLetter says for it).
func isLetterASCII(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

func tokenize(src string) ([]token, error) {
	// About one token per five bytes of GSM-Hard source; a docstring-heavy program needs fewer.
	lx := &lexer{src: src, line: 1, indents: make([]string, 1, 8), toks: make([]token, 0, len(src)/5+16)}
	atLineStart := true
	for {
		if atLineStart && lx.depth == 0 {
			start, pos := lx.pos, lx.pos
			for pos < len(src) && (src[pos] == ' ' || src[pos] == '\t' || src[pos] == '\f') {
				pos++
			}
			lx.pos = pos
			if pos >= len(src) {
				break
			}
			if c := src[pos]; c == '#' || c == '\n' || c == '\r' {
				// Blank or comment-only lines do not take part in indentation.
				lx.skipComment()
				lx.skipNewline()
				continue
			}
			if err := lx.indent(src[start:pos]); err != nil {
				return nil, err
			}
		}
		atLineStart = false
		if lx.pos >= len(src) {
			break
		}
		switch byteClass[src[lx.pos]] {
		case cName:
			// An ASCII name not followed by a quote or a non-ASCII byte is lexed here, without
			// the call; anything else (string prefixes, unicode) goes through lx.name.
			start, pos := lx.pos, lx.pos
			for pos < len(src) && identASCII[src[pos]] {
				pos++
			}
			if pos > start && (pos == len(src) || byteClass[src[pos]] != cName && byteClass[src[pos]] != cQuote) {
				word := src[start:pos]
				lx.toks = append(lx.toks, token{kind: tName, kw: isKeyword(word), text: word, line: lx.line})
				lx.pos = pos
			} else if err := lx.name(); err != nil {
				return nil, err
			}
			// The blank after a name, skipped here rather than by one more trip round the loop.
			for lx.pos < len(src) && src[lx.pos] == ' ' {
				lx.pos++
			}
		case cSpace:
			pos := lx.pos + 1
			for pos < len(src) && byteClass[src[pos]] == cSpace {
				pos++
			}
			lx.pos = pos
		case cOther:
			var err error
			if src[lx.pos] == '.' && lx.pos+1 < len(src) && isDigit(src[lx.pos+1]) {
				err = lx.number()
			} else {
				err = lx.op()
			}
			if err != nil {
				return nil, err
			}
			for lx.pos < len(src) && src[lx.pos] == ' ' {
				lx.pos++
			}
		case cNewline:
			line := lx.line
			lx.skipNewline()
			if lx.depth == 0 {
				lx.emit(tNewline, "", line)
				atLineStart = true
			}
		case cDigit:
			if err := lx.number(); err != nil {
				return nil, err
			}
		case cQuote:
			if err := lx.str(); err != nil {
				return nil, err
			}
		case cHash:
			lx.skipComment()
		case cBackslash:
			lx.pos++
			if !lx.skipNewline() {
				return nil, syntaxErr(lx.line, "unexpected character after line continuation character")
			}
		}
	}
	if lx.depth > 0 {
		return nil, syntaxErr(lx.line, "unexpected end of program: a bracket is never closed")
	}
	if n := len(lx.toks); n > 0 && lx.toks[n-1].kind != tNewline {
		lx.emit(tNewline, "", lx.line)
	}
	for len(lx.indents) > 1 {
		lx.indents = lx.indents[:len(lx.indents)-1]
		lx.emit(tDedent, "", lx.line)
	}
	lx.emit(tEOF, "", lx.line)
	return lx.toks, nil
}

func (lx *lexer) emit(k tokKind, text string, line int) {
	lx.toks = append(lx.toks, token{kind: k, text: text, line: line})
}

func (lx *lexer) skipComment() {
	src, pos := lx.src, lx.pos
	if pos < len(src) && src[pos] == '#' {
		// The comment ends at the first \n or \r; IndexByte is a word-at-a-time scan under wasm.
		end := len(src)
		if k := strings.IndexByte(src[pos:], '\n'); k >= 0 {
			end = pos + k
		}
		if k := strings.IndexByte(src[pos:end], '\r'); k >= 0 {
			end = pos + k
		}
		pos = end
	}
	lx.pos = pos
}

// skipNewline consumes one \n, \r\n or \r and reports whether there was one.
func (lx *lexer) skipNewline() bool {
	if lx.pos >= len(lx.src) {
		return false
	}
	switch lx.src[lx.pos] {
	case '\r':
		lx.pos++
		if lx.pos < len(lx.src) && lx.src[lx.pos] == '\n' {
			lx.pos++
		}
	case '\n':
		lx.pos++
	default:
		return false
	}
	lx.line++
	return true
}

// indent compares a line's leading whitespace with the open levels. Levels are compared as
// strings, not columns: a deeper level must extend the enclosing one character for character.
// That rejects every program CPython rejects with TabError (and a few odd ones it would accept),
// without having to pick a tab width.
func (lx *lexer) indent(ind string) error {
	top := lx.indents[len(lx.indents)-1]
	switch {
	case ind == top:
		return nil
	case strings.HasPrefix(ind, top):
		if len(lx.indents) > maxBlockDepth {
			return syntaxErr(lx.line, "too many levels of indentation (limit "+strconv.Itoa(maxBlockDepth)+")")
		}
		lx.indents = append(lx.indents, ind)
		lx.emit(tIndent, "", lx.line)
		return nil
	case strings.HasPrefix(top, ind):
		for len(lx.indents) > 1 && len(lx.indents[len(lx.indents)-1]) > len(ind) {
			lx.indents = lx.indents[:len(lx.indents)-1]
			lx.emit(tDedent, "", lx.line)
		}
		top = lx.indents[len(lx.indents)-1]
		if top == ind {
			return nil
		}
		if strings.HasPrefix(ind, top) {
			return syntaxErr(lx.line, "unindent does not match any outer indentation level")
		}
	}
	return syntaxErr(lx.line, "inconsistent use of tabs and spaces in indentation")
}

// skipDigits returns the position after the run of digits and underscores at pos.
func skipDigits(src string, pos int) int {
	for pos < len(src) && (isDigit(src[pos]) || src[pos] == '_') {
		pos++
	}
	return pos
}

func (lx *lexer) number() error {
	src := lx.src
	start, pos := lx.pos, lx.pos
	if src[pos] == '0' && pos+1 < len(src) && isRadixLetter(src[pos+1]) {
		pos += 2
		for pos < len(src) {
			c := src[pos]
			if !isDigit(c) && !(c|0x20 >= 'a' && c|0x20 <= 'f') && c != '_' {
				break
			}
			pos++
		}
	} else {
		pos = skipDigits(src, pos)
		if pos < len(src) && src[pos] == '.' {
			pos = skipDigits(src, pos+1)
		}
		if pos < len(src) && (src[pos] == 'e' || src[pos] == 'E') {
			pos++
			if pos < len(src) && (src[pos] == '+' || src[pos] == '-') {
				pos++
			}
			pos = skipDigits(src, pos)
		}
	}
	lx.pos = pos
	if pos < len(src) {
		c := src[pos]
		if c == 'j' || c == 'J' {
			return syntaxErr(lx.line, "complex numbers are not supported")
		}
		// A byte >= 0x80 is tested as the Latin-1 rune of that value, as it always was.
		if c == '_' || isDigit(c) || isLetterASCII(c) || (c >= utf8.RuneSelf && unicode.IsLetter(rune(c))) {
			return syntaxErr(lx.line, "invalid number literal")
		}
	}
	lx.emit(tNumber, src[start:pos], lx.line)
	return nil
}

// isRadixLetter reports whether c is one of xXoObB.
func isRadixLetter(c byte) bool { c |= 0x20; return c == 'x' || c == 'o' || c == 'b' }

func (lx *lexer) str() error {
	src, line := lx.src, lx.line
	pos := lx.pos
	q := src[pos]
	triple := pos+2 < len(src) && src[pos+1] == q && src[pos+2] == q
	n := 1
	if triple {
		n = 3
	}
	pos += n
	start := pos
	if end, lines, ok := scanPlainString(src, start, q, triple); ok {
		lx.line += lines
		lx.emit(tString, src[start:end], line)
		lx.pos = end + n
		return nil
	}
	// A backslash or \r before the closing quote, or no closing quote: byte by byte.
	for {
		if pos >= len(src) {
			if triple {
				return syntaxErr(line, "unterminated triple-quoted string literal")
			}
			return syntaxErr(line, "unterminated string literal")
		}
		c := src[pos]
		switch {
		case c == '\\':
			// Skip the escaped character; an escaped line break counts as a line.
			pos++
			if pos < len(src) {
				switch src[pos] {
				case '\r':
					pos++
					if pos < len(src) && src[pos] == '\n' {
						pos++
					}
					lx.line++
				case '\n':
					pos++
					lx.line++
				default:
					pos++
				}
			}
		case c == '\n' || c == '\r':
			if !triple {
				return syntaxErr(line, "unterminated string literal")
			}
			pos++
			if c == '\r' && pos < len(src) && src[pos] == '\n' {
				pos++
			}
			lx.line++
		case c == q && (!triple || (pos+2 < len(src) && src[pos+1] == q && src[pos+2] == q)):
			lx.emit(tString, src[start:pos], line)
			lx.pos = pos + n
			return nil
		default:
			pos++
		}
	}
}

// scanPlainString finds the closing quote of a string literal whose text up to it has no
// backslash and no \r, jumping from quote to quote with IndexByte, and counts its line breaks.
// ok is false for every other literal, which str then scans byte by byte from the start (that
// loop also reports the errors).
func scanPlainString(src string, pos int, q byte, triple bool) (end, lines int, ok bool) {
	for {
		k := strings.IndexByte(src[pos:], q)
		if k < 0 {
			return 0, 0, false
		}
		seg := src[pos : pos+k]
		if strings.IndexByte(seg, '\\') >= 0 || strings.IndexByte(seg, '\r') >= 0 {
			return 0, 0, false
		}
		for j := strings.IndexByte(seg, '\n'); j >= 0; j = strings.IndexByte(seg, '\n') {
			if !triple {
				return 0, 0, false
			}
			lines++
			seg = seg[j+1:]
		}
		pos += k
		if !triple || (pos+2 < len(src) && src[pos+1] == q && src[pos+2] == q) {
			return pos, lines, true
		}
		pos++
	}
}

func (lx *lexer) name() error {
	src := lx.src
	start, pos := lx.pos, lx.pos
	for pos < len(src) {
		if identASCII[src[pos]] {
			pos++
			continue
		}
		if src[pos] < utf8.RuneSelf {
			break
		}
		r, size := utf8.DecodeRuneInString(src[pos:])
		if !unicode.IsLetter(r) && !unicode.IsDigit(r) {
			break
		}
		pos += size
	}
	lx.pos = pos
	if pos == start {
		r, _ := utf8.DecodeRuneInString(src[pos:])
		return syntaxErr(lx.line, "invalid character "+strconv.QuoteRune(r))
	}
	word := src[start:pos]
	if pos < len(src) && (src[pos] == '"' || src[pos] == '\'') {
		switch strings.ToLower(word) {
		case "r", "u", "f", "b", "rb", "br", "fr", "rf":
			// A string prefix. The node never looks inside strings, so f-strings need no parsing.
			return lx.str()
		}
	}
	lx.toks = append(lx.toks, token{kind: tName, kw: isKeyword(word), text: word, line: lx.line})
	return nil
}

// isKeyword reports whether s is one of Python's reserved words.
func isKeyword(s string) bool {
	if len(s) < 2 || len(s) > 8 {
		return false
	}
	switch s[0] {
	case 'F':
		return s == "False"
	case 'N':
		return s == "None"
	case 'T':
		return s == "True"
	case 'a':
		return s == "and" || s == "as" || s == "assert" || s == "async" || s == "await"
	case 'b':
		return s == "break"
	case 'c':
		return s == "class" || s == "continue"
	case 'd':
		return s == "def" || s == "del"
	case 'e':
		return s == "elif" || s == "else" || s == "except"
	case 'f':
		return s == "finally" || s == "for" || s == "from"
	case 'g':
		return s == "global"
	case 'i':
		return s == "if" || s == "import" || s == "in" || s == "is"
	case 'l':
		return s == "lambda"
	case 'n':
		return s == "nonlocal" || s == "not"
	case 'o':
		return s == "or"
	case 'p':
		return s == "pass"
	case 'r':
		return s == "raise" || s == "return"
	case 't':
		return s == "try"
	case 'w':
		return s == "while" || s == "with"
	case 'y':
		return s == "yield"
	}
	return false
}

// op lexes an operator or delimiter: the longest of
//
//	**= //= >>= <<= ... ** // == != <= >= += -= *= /= %= &= |= ^= @= -> := << >>
//	+ - * / % ( ) [ ] { } , : . = < > ; @ & | ^ ~
func (lx *lexer) op() error {
	src, pos := lx.src, lx.pos
	c := src[pos]
	var c1, c2 byte
	if pos+1 < len(src) {
		c1 = src[pos+1]
	}
	if pos+2 < len(src) {
		c2 = src[pos+2]
	}
	n := 0
	switch c {
	case '(', '[', '{':
		lx.depth++
		if lx.depth > maxNesting {
			return syntaxErr(lx.line, "too many nested brackets (limit "+strconv.Itoa(maxNesting)+")")
		}
		n = 1
	case ')', ']', '}':
		if lx.depth == 0 {
			return syntaxErr(lx.line, "unmatched '"+src[pos:pos+1]+"'")
		}
		lx.depth--
		n = 1
	case ',', ';', '~':
		n = 1
	case '*', '/', '<', '>': // x, xx, xx=, x=
		n = 1
		if c1 == c {
			n = 2
			if c2 == '=' {
				n = 3
			}
		} else if c1 == '=' {
			n = 2
		}
	case '+', '%', '&', '|', '^', '@', '=', ':': // x, x=
		n = 1
		if c1 == '=' {
			n = 2
		}
	case '-': // -, -=, ->
		n = 1
		if c1 == '=' || c1 == '>' {
			n = 2
		}
	case '!':
		if c1 == '=' {
			n = 2
		}
	case '.':
		n = 1
		if c1 == '.' && c2 == '.' {
			n = 3
		}
	}
	if n == 0 {
		r, _ := utf8.DecodeRuneInString(src[pos:])
		return syntaxErr(lx.line, "invalid character "+strconv.QuoteRune(r))
	}
	lx.emit(tOp, src[pos:pos+n], lx.line)
	lx.pos = pos + n
	return nil
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// ---------------------------------------------------------------------------------------------
// AST

type expr interface{ pos() int }

type (
	litExpr struct {
		line int
		v    value
	}
	nameExpr struct {
		line    int
		name    string
		id      int32 // the name's symbol: scopes are indexed by it, not by the string
		builtin bool  // a builtin function's name, the fallback when no scope binds it
	}
	unaryExpr struct {
		line int
		op   string // "-", "+", "not"
		x    expr
	}
	// arithExpr is a left-associative chain (a + b - c, a * b / c): kept flat so that a long
	// sum costs no evaluator recursion.
	arithExpr struct {
		line  int
		first expr
		ops   []string
		rest  []expr
		// Inline room for the first two operators and operands: most chains are that short.
		opBuf   [2]string
		restBuf [2]expr
	}
	powExpr struct {
		line      int
		base, exp expr
	}
	boolExpr struct {
		line int
		op   string // "and", "or"
		xs   []expr
	}
	compareExpr struct {
		line  int
		first expr
		ops   []string // "<", "==", "in", "not in", "is", "is not", ...
		rest  []expr
	}
	condExpr struct {
		line           int
		cond, yes, alt expr
	}
	callExpr struct {
		line    int
		fn      expr
		args    []expr
		kwNames []string // keyword arguments: only print's (ignored), round's ndigits, sum's start
		kwArgs  []expr
	}
	attrExpr struct {
		line int
		x    expr
		name string
	}
	indexExpr struct {
		line   int
		x, idx expr
	}
	seqExpr struct {
		line  int
		elts  []expr
		tuple bool
	}
	compExpr struct {
		line    int
		elt     expr
		clauses []compClause
	}
)

type compClause struct {
	target expr
	iter   expr
	conds  []expr
}

func (e *litExpr) pos() int     { return e.line }
func (e *nameExpr) pos() int    { return e.line }
func (e *unaryExpr) pos() int   { return e.line }
func (e *arithExpr) pos() int   { return e.line }
func (e *powExpr) pos() int     { return e.line }
func (e *boolExpr) pos() int    { return e.line }
func (e *compareExpr) pos() int { return e.line }
func (e *condExpr) pos() int    { return e.line }
func (e *callExpr) pos() int    { return e.line }
func (e *attrExpr) pos() int    { return e.line }
func (e *indexExpr) pos() int   { return e.line }
func (e *seqExpr) pos() int     { return e.line }
func (e *compExpr) pos() int    { return e.line }

type stmt interface{ pos() int }

type (
	assignStmt struct {
		line    int
		targets []expr
		value   expr
	}
	augStmt struct {
		line   int
		target expr
		op     string // the binary operator: "+", "//", ...
		value  expr
	}
	exprStmt struct {
		line int
		x    expr
	}
	ifStmt struct {
		line   int
		conds  []expr
		bodies [][]stmt
		els    []stmt
	}
	forStmt struct {
		line   int
		target expr
		iter   expr
		body   []stmt
	}
	whileStmt struct {
		line int
		cond expr
		body []stmt
	}
	jumpStmt struct {
		line int
		kind ctl // ctlBreak or ctlContinue
	}
	returnStmt struct {
		line int
		x    expr // nil for a bare return
	}
	defStmt    struct{ fn *funcDef }
	importStmt struct {
		line  int
		names []string // "math" for `import math`, else the imported names
		binds []string // the names bound in the scope
		ids   []int32  // the symbols of binds
		from  bool
	}
	assertStmt struct {
		line int
		x    expr
	}
	passStmt struct{ line int }
)

type funcDef struct {
	line     int
	name     string
	id       int32 // the symbol of name
	params   []string
	paramIDs []int32
	body     []stmt
}

func (s *assignStmt) pos() int { return s.line }
func (s *augStmt) pos() int    { return s.line }
func (s *exprStmt) pos() int   { return s.line }
func (s *ifStmt) pos() int     { return s.line }
func (s *forStmt) pos() int    { return s.line }
func (s *whileStmt) pos() int  { return s.line }
func (s *jumpStmt) pos() int   { return s.line }
func (s *returnStmt) pos() int { return s.line }
func (s *defStmt) pos() int    { return s.fn.line }
func (s *importStmt) pos() int { return s.line }
func (s *assertStmt) pos() int { return s.line }
func (s *passStmt) pos() int   { return s.line }

// ---------------------------------------------------------------------------------------------
// Parser: recursive descent over the token list, following Python's grammar for the subset.

type parser struct {
	toks      []token
	i         int
	nesting   int // expression recursion depth
	loops     int // enclosing loops in the current function, for break/continue
	functions int // enclosing defs, for return

	// Chunks the most common nodes are carved from: one allocation per slabChunk nodes instead
	// of one per node, which under wasm costs several hundred instructions each.
	names   []nameExpr
	lits    []litExpr
	assigns []assignStmt
	ariths  []arithExpr
	exprs   []expr // one-element target lists of assignments

	// The symbol table: every name a scope can bind or look up gets a small integer.
	syms   []string
	symIdx map[string]int32 // built once there are more than symLinear symbols
}

const symLinear = 64

// sym returns name's symbol, adding it to the table if new. Up to symLinear names are
// searched linearly (cheaper than hashing under wasm); past that a map keeps it linear time.
func (p *parser) sym(name string) int32 {
	if p.symIdx == nil {
		for i, s := range p.syms {
			if s == name {
				return int32(i)
			}
		}
		if len(p.syms) < symLinear {
			if p.syms == nil {
				p.syms = make([]string, 0, 32)
			}
			p.syms = append(p.syms, name)
			return int32(len(p.syms) - 1)
		}
		p.symIdx = make(map[string]int32, 2*symLinear)
		for i, s := range p.syms {
			p.symIdx[s] = int32(i)
		}
	}
	if id, ok := p.symIdx[name]; ok {
		return id
	}
	p.syms = append(p.syms, name)
	id := int32(len(p.syms) - 1)
	p.symIdx[name] = id
	return id
}

// findSym returns name's symbol if the program mentions it.
func (p *parser) findSym(name string) (int32, bool) {
	if p.symIdx != nil {
		id, ok := p.symIdx[name]
		return id, ok
	}
	for i, s := range p.syms {
		if s == name {
			return int32(i), true
		}
	}
	return 0, false
}

const slabChunk = 16

func (p *parser) newName(line int, name string) *nameExpr {
	if len(p.names) == cap(p.names) {
		p.names = make([]nameExpr, 0, slabChunk)
	}
	p.names = append(p.names, nameExpr{line: line, name: name, id: p.sym(name), builtin: isBuiltin(name)})
	return &p.names[len(p.names)-1]
}

func (p *parser) newArith(line int, first expr) *arithExpr {
	if len(p.ariths) == cap(p.ariths) {
		p.ariths = make([]arithExpr, 0, slabChunk)
	}
	p.ariths = append(p.ariths, arithExpr{line: line, first: first})
	a := &p.ariths[len(p.ariths)-1]
	a.ops, a.rest = a.opBuf[:0], a.restBuf[:0]
	return a
}

func (p *parser) newLit(line int, v value) *litExpr {
	if len(p.lits) == cap(p.lits) {
		p.lits = make([]litExpr, 0, slabChunk)
	}
	p.lits = append(p.lits, litExpr{line: line, v: v})
	return &p.lits[len(p.lits)-1]
}

// newAssign returns `target = v`.
func (p *parser) newAssign(line int, target, v expr) *assignStmt {
	if len(p.exprs) == cap(p.exprs) {
		p.exprs = make([]expr, 0, slabChunk)
	}
	n := len(p.exprs)
	p.exprs = append(p.exprs, target)
	if len(p.assigns) == cap(p.assigns) {
		p.assigns = make([]assignStmt, 0, slabChunk)
	}
	// The full slice expression caps targets at one element, so it never shares the chunk.
	p.assigns = append(p.assigns, assignStmt{line: line, targets: p.exprs[n : n+1 : n+1], value: v})
	return &p.assigns[len(p.assigns)-1]
}

func (p *parser) peek() token { return p.toks[p.i] }
func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}
func (p *parser) isOp(s string) bool { t := &p.toks[p.i]; return t.kind == tOp && t.text == s }
func (p *parser) isKw(s string) bool { t := &p.toks[p.i]; return t.kind == tName && t.text == s }

func (p *parser) eatOp(s string) bool {
	if p.isOp(s) {
		p.i++
		return true
	}
	return false
}

func (p *parser) eatKw(s string) bool {
	if p.isKw(s) {
		p.i++
		return true
	}
	return false
}

func (p *parser) expectOp(s string) error {
	if !p.eatOp(s) {
		return p.unexpected("expected '" + s + "'")
	}
	return nil
}

// unexpected describes the current token in a syntax error.
func (p *parser) unexpected(want string) error {
	t := p.peek()
	var got string
	switch t.kind {
	case tEOF:
		got = "end of program"
	case tNewline:
		got = "end of line"
	case tIndent:
		got = "unexpected indent"
	case tDedent:
		got = "unexpected unindent"
	case tString:
		got = "string"
	default:
		got = "'" + t.text + "'"
	}
	if want == "" {
		return syntaxErr(t.line, "unexpected "+got)
	}
	return syntaxErr(t.line, want+", got "+got)
}

func (p *parser) enter() error {
	p.nesting++
	if p.nesting > maxNesting {
		return syntaxErr(p.peek().line, "expression nested too deeply (limit "+strconv.Itoa(maxNesting)+")")
	}
	return nil
}

func (p *parser) leave() { p.nesting-- }

func (p *parser) parseFile() ([]stmt, error) {
	body := make([]stmt, 0, 8)
	for p.toks[p.i].kind != tEOF {
		if p.toks[p.i].kind == tNewline {
			p.i++
			continue
		}
		var err error
		if body, err = p.parseStatement(body); err != nil {
			return nil, err
		}
	}
	return body, nil
}

// parseStatement parses one statement (or a line of simple ones) and appends it to out.
func (p *parser) parseStatement(out []stmt) ([]stmt, error) {
	t := &p.toks[p.i]
	if t.kind == tIndent {
		return nil, syntaxErr(t.line, "unexpected indent")
	}
	if t.kw {
		var s stmt
		var err error
		switch t.text {
		case "if":
			s, err = p.parseIf()
		case "while", "for":
			s, err = p.parseLoop()
		case "def":
			s, err = p.parseDef()
		case "class", "try", "with", "lambda", "global", "nonlocal", "del", "raise", "yield", "async", "await", "except", "finally":
			return nil, syntaxErr(t.line, "unsupported statement '"+clip(t.text)+"'")
		default:
			return p.parseSimpleLine(out)
		}
		if err != nil {
			return nil, err
		}
		return append(out, s), nil
	}
	return p.parseSimpleLine(out)
}

// parseSimpleLine parses `simple (; simple)* NEWLINE` and appends the statements to out.
func (p *parser) parseSimpleLine(out []stmt) ([]stmt, error) {
	for {
		s, err := p.parseSimple()
		if err != nil {
			return nil, err
		}
		out = append(out, s)
		if !p.eatOp(";") || p.toks[p.i].kind == tNewline {
			break
		}
	}
	if p.toks[p.i].kind != tNewline {
		return nil, p.unexpected("expected end of line")
	}
	p.i++ // a newline is never the EOF token
	return out, nil
}

func (p *parser) parseSimple() (stmt, error) {
	t := p.peek()
	line := t.line
	if t.kind == tName {
		switch t.text {
		case "pass":
			p.next()
			return &passStmt{line: line}, nil
		case "break", "continue":
			p.next()
			if p.loops == 0 {
				return nil, syntaxErr(line, "'"+clip(t.text)+"' outside loop")
			}
			k := ctlBreak
			if t.text == "continue" {
				k = ctlContinue
			}
			return &jumpStmt{line: line, kind: k}, nil
		case "return":
			p.next()
			if p.functions == 0 {
				return nil, syntaxErr(line, "'return' outside function")
			}
			if p.peek().kind == tNewline || p.isOp(";") {
				return &returnStmt{line: line}, nil
			}
			x, err := p.parseExprList()
			return &returnStmt{line: line, x: x}, err
		case "import", "from":
			return p.parseImport()
		case "assert":
			p.next()
			x, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			if p.eatOp(",") { // the message is only shown on failure; evaluate nothing of it
				if _, err := p.parseExpr(); err != nil {
					return nil, err
				}
			}
			return &assertStmt{line: line, x: x}, nil
		case "if", "while", "for", "def", "else", "elif", "class", "try", "with", "lambda", "global",
			"nonlocal", "del", "raise", "yield", "async", "await", "except", "finally":
			return nil, syntaxErr(line, "unexpected '"+clip(t.text)+"'")
		}
	}
	x, err := p.parseExprList()
	if err != nil {
		return nil, err
	}
	switch op := p.peek(); {
	case op.kind == tOp && op.text == "=":
		p.i++
		v, err := p.parseExprList()
		if err != nil {
			return nil, err
		}
		if !p.isOp("=") { // the common case: one target
			if err := checkTarget(x, true); err != nil {
				return nil, err
			}
			return p.newAssign(line, x, v), nil
		}
		targets := []expr{x, v}
		for p.eatOp("=") {
			v, err := p.parseExprList()
			if err != nil {
				return nil, err
			}
			targets = append(targets, v)
		}
		val, targets := targets[len(targets)-1], targets[:len(targets)-1]
		for _, tg := range targets {
			if err := checkTarget(tg, true); err != nil {
				return nil, err
			}
		}
		return &assignStmt{line: line, targets: targets, value: val}, nil
	case op.kind == tOp && len(op.text) >= 2 && op.text[len(op.text)-1] == '=' && op.text != "==" &&
		op.text != "!=" && op.text != "<=" && op.text != ">=":
		binop := op.text[:len(op.text)-1]
		switch binop {
		case "+", "-", "*", "/", "//", "%", "**":
		default:
			return nil, syntaxErr(line, "unsupported operator '"+op.text+"'")
		}
		p.next()
		if err := checkTarget(x, false); err != nil {
			return nil, err
		}
		v, err := p.parseExprList()
		if err != nil {
			return nil, err
		}
		return &augStmt{line: line, target: x, op: binop, value: v}, nil
	case op.kind == tOp && op.text == ":":
		// An annotated assignment, `x: float = 1.5`: the annotation is not evaluated.
		if _, ok := x.(*nameExpr); !ok {
			return nil, p.unexpected("")
		}
		p.next()
		if _, err := p.parseExpr(); err != nil {
			return nil, err
		}
		if !p.eatOp("=") {
			return &passStmt{line: line}, nil
		}
		v, err := p.parseExprList()
		if err != nil {
			return nil, err
		}
		return p.newAssign(line, x, v), nil
	}
	return &exprStmt{line: line, x: x}, nil
}

// checkTarget reports whether e can be assigned to: a name, a subscript, or (when unpacking is
// allowed) a tuple or list of targets.
func checkTarget(e expr, unpack bool) error {
	switch t := e.(type) {
	case *nameExpr, *indexExpr:
		return nil
	case *seqExpr:
		if unpack {
			for _, x := range t.elts {
				if err := checkTarget(x, true); err != nil {
					return err
				}
			}
			return nil
		}
	}
	return syntaxErr(e.pos(), "cannot assign to this expression")
}

func (p *parser) parseImport() (stmt, error) {
	t := p.next()
	s := &importStmt{line: t.line, from: t.text == "from"}
	mod := p.next()
	if mod.kind != tName || mod.kw {
		return nil, syntaxErr(t.line, "expected a module name")
	}
	if mod.text != "math" || p.isOp(".") {
		return nil, runErr(t.line, "unsupported import: only the math module is available")
	}
	if !s.from {
		bind := "math"
		if p.eatKw("as") {
			a := p.next()
			if a.kind != tName || a.kw {
				return nil, syntaxErr(t.line, "expected a name after 'as'")
			}
			bind = a.text
		}
		s.names, s.binds, s.ids = []string{"math"}, []string{bind}, []int32{p.sym(bind)}
		return s, nil
	}
	if !p.eatKw("import") {
		return nil, p.unexpected("expected 'import'")
	}
	paren := p.eatOp("(")
	for {
		n := p.next()
		if n.kind == tOp && n.text == "*" {
			return nil, syntaxErr(t.line, "'from math import *' is not supported; name the functions")
		}
		if n.kind != tName || n.kw {
			return nil, syntaxErr(t.line, "expected a name to import")
		}
		bind := n.text
		if p.eatKw("as") {
			a := p.next()
			if a.kind != tName || a.kw {
				return nil, syntaxErr(t.line, "expected a name after 'as'")
			}
			bind = a.text
		}
		s.names, s.binds, s.ids = append(s.names, n.text), append(s.binds, bind), append(s.ids, p.sym(bind))
		if !p.eatOp(",") || (paren && p.isOp(")")) {
			break
		}
	}
	if paren {
		if err := p.expectOp(")"); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// parseBlock parses the body after a ':' : an indented block or simple statements on the line.
func (p *parser) parseBlock() ([]stmt, error) {
	if err := p.expectOp(":"); err != nil {
		return nil, err
	}
	if p.toks[p.i].kind != tNewline {
		return p.parseSimpleLine(nil)
	}
	p.i++
	if p.toks[p.i].kind != tIndent {
		return nil, syntaxErr(p.toks[p.i].line, "expected an indented block")
	}
	p.i++
	body := make([]stmt, 0, 8)
	for k := p.toks[p.i].kind; k != tDedent && k != tEOF; k = p.toks[p.i].kind {
		if k == tNewline {
			p.i++
			continue
		}
		var err error
		if body, err = p.parseStatement(body); err != nil {
			return nil, err
		}
	}
	p.next()
	return body, nil
}

func (p *parser) parseIf() (stmt, error) {
	s := &ifStmt{line: p.next().line}
	for {
		c, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		b, err := p.parseBlock()
		if err != nil {
			return nil, err
		}
		s.conds, s.bodies = append(s.conds, c), append(s.bodies, b)
		if !p.eatKw("elif") {
			break
		}
	}
	if p.eatKw("else") {
		b, err := p.parseBlock()
		if err != nil {
			return nil, err
		}
		s.els = b
	}
	return s, nil
}

func (p *parser) parseLoop() (stmt, error) {
	t := p.next()
	var s stmt
	var body *[]stmt
	if t.text == "while" {
		c, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		w := &whileStmt{line: t.line, cond: c}
		s, body = w, &w.body
	} else {
		target, err := p.parseTargetList()
		if err != nil {
			return nil, err
		}
		if !p.eatKw("in") {
			return nil, p.unexpected("expected 'in'")
		}
		iter, err := p.parseExprList()
		if err != nil {
			return nil, err
		}
		f := &forStmt{line: t.line, target: target, iter: iter}
		s, body = f, &f.body
	}
	p.loops++
	b, err := p.parseBlock()
	p.loops--
	if err != nil {
		return nil, err
	}
	*body = b
	if p.isKw("else") {
		return nil, syntaxErr(p.peek().line, "'else' after a loop is not supported")
	}
	return s, nil
}

// parseTargetList parses the loop variables of `for a, b in ...`: names, optionally in parens.
// It cannot use parseExprList, which would swallow the 'in'.
func (p *parser) parseTargetList() (expr, error) {
	line := p.peek().line
	var elts []expr
	for {
		var e expr
		if p.eatOp("(") {
			inner, err := p.parseTargetList()
			if err != nil {
				return nil, err
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			e = inner
		} else {
			t := p.next()
			if t.kind != tName || t.kw {
				return nil, syntaxErr(t.line, "expected a loop variable name")
			}
			e = p.newName(t.line, t.text)
		}
		elts = append(elts, e)
		if !p.eatOp(",") || p.isKw("in") {
			break
		}
	}
	if len(elts) == 1 {
		return elts[0], nil
	}
	return &seqExpr{line: line, elts: elts, tuple: true}, nil
}

func (p *parser) parseDef() (stmt, error) {
	line := p.next().line
	name := p.next()
	if name.kind != tName || name.kw {
		return nil, syntaxErr(line, "expected a function name after 'def'")
	}
	if err := p.expectOp("("); err != nil {
		return nil, err
	}
	fn := &funcDef{line: line, name: name.text, id: p.sym(name.text)}
	var seen map[int32]bool // only for long parameter lists: short ones are scanned
	for !p.isOp(")") {
		a := p.next()
		if a.kind != tName || a.kw {
			return nil, syntaxErr(line, "only plain positional parameters are supported")
		}
		id := p.sym(a.text)
		dup := false
		if seen == nil && len(fn.paramIDs) >= 16 {
			seen = make(map[int32]bool, 2*len(fn.paramIDs))
			for _, q := range fn.paramIDs {
				seen[q] = true
			}
		}
		if seen != nil {
			dup = seen[id]
			seen[id] = true
		} else {
			for _, q := range fn.paramIDs {
				dup = dup || q == id
			}
		}
		if dup {
			return nil, syntaxErr(line, "duplicate parameter '"+clip(a.text)+"'")
		}
		if p.eatOp(":") { // a type annotation, ignored
			if _, err := p.parseExpr(); err != nil {
				return nil, err
			}
		}
		if p.isOp("=") {
			return nil, syntaxErr(line, "default parameter values are not supported")
		}
		fn.params, fn.paramIDs = append(fn.params, a.text), append(fn.paramIDs, id)
		if !p.eatOp(",") {
			break
		}
	}
	if err := p.expectOp(")"); err != nil {
		return nil, err
	}
	if p.eatOp("->") {
		if _, err := p.parseExpr(); err != nil {
			return nil, err
		}
	}
	loops := p.loops
	p.loops = 0
	p.functions++
	body, err := p.parseBlock()
	p.functions--
	p.loops = loops
	if err != nil {
		return nil, err
	}
	fn.body = body
	return &defStmt{fn: fn}, nil
}

// startsExpr reports whether the current token can begin an expression (to tell `x = a,` from
// `x = a, b`).
func (p *parser) startsExpr() bool {
	t := p.peek()
	switch t.kind {
	case tNumber, tString:
		return true
	case tName:
		return !t.kw || t.text == "True" || t.text == "False" || t.text == "None" ||
			t.text == "not" || t.text == "lambda"
	case tOp:
		switch t.text {
		case "(", "[", "{", "-", "+", "~":
			return true
		}
	}
	return false
}

// parseExprList parses `expr (, expr)* [,]`, a tuple when there is a comma.
func (p *parser) parseExprList() (expr, error) {
	line := p.peek().line
	x, err := p.parseExpr()
	if err != nil || !p.isOp(",") {
		return x, err
	}
	elts := []expr{x}
	for p.eatOp(",") && p.startsExpr() {
		x, err := p.parseExpr()
		if err != nil {
			return nil, err
		}
		elts = append(elts, x)
	}
	return &seqExpr{line: line, elts: elts, tuple: true}, nil
}

// parseExpr parses a conditional expression: `a if c else b`.
func (p *parser) parseExpr() (expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	t := &p.toks[p.i]
	if t.kind == tName && t.text == "lambda" {
		return nil, syntaxErr(t.line, "lambda is not supported")
	}
	// Most expressions in GSM-Hard programs are a lone name or number before a newline, ')',
	// ',', ']', '=', ':' or ';'. The full descent would call parseAtom first too and then find
	// nothing that continues the expression at any level, so this shortcut builds the same node
	// without a dozen calls.
	if t.kind == tNumber || (t.kind == tName && t.text != "not") {
		if endsExpr(&p.toks[p.i+1]) {
			x, err := p.parseAtom()
			p.leave()
			return x, err
		}
		if p.flatArith() {
			x, err := p.parseFlatSum()
			p.leave()
			return x, err
		}
	}
	line := t.line
	x, err := p.parseOr()
	if err != nil || !p.isKw("if") {
		p.leave()
		return x, err
	}
	p.i++
	c, err := p.parseOr()
	if err != nil {
		return nil, err
	}
	if !p.eatKw("else") {
		return nil, p.unexpected("expected 'else'")
	}
	y, err := p.parseExpr()
	if err != nil {
		return nil, err
	}
	p.leave()
	return &condExpr{line: line, cond: c, yes: x, alt: y}, nil
}

// endsExpr reports whether t ends an expression whatever precedes it: a newline, ')', ',',
// ']', '=', ':' or ';'.
func endsExpr(t *token) bool {
	return t.kind == tNewline || (t.kind == tOp && len(t.text) == 1 &&
		(t.text[0] == ')' || t.text[0] == ',' || t.text[0] == ']' || t.text[0] == '=' ||
			t.text[0] == ':' || t.text[0] == ';'))
}

// isFlatOperand reports whether t is a number or a name that is not a reserved word.
func isFlatOperand(t *token) bool { return t.kind == tNumber || (t.kind == tName && !t.kw) }

// flatArith reports whether the tokens from p.i are `operand (op operand)+` followed by a token
// for which endsExpr holds, each operand a number or a plain name and each op one of
// + - * / // %: the next most common expression in GSM-Hard programs (`a * b`, `a - b - c`).
// For such a run the full descent parses every operand with parseAtom, left to right, and
// builds exactly the chains parseFlatSum builds; anything else (brackets, calls, unary signs,
// **, comparisons, unsupported operators) takes the full descent, errors included.
func (p *parser) flatArith() bool {
	for i := p.i; ; i += 2 {
		if !isFlatOperand(&p.toks[i]) {
			return false
		}
		nx := &p.toks[i+1]
		if endsExpr(nx) {
			return i > p.i
		}
		if nx.kind != tOp {
			return false
		}
		switch nx.text {
		case "+", "-", "*", "/", "//", "%":
		default:
			return false
		}
	}
}

// parseFlatSum parses what flatArith accepted as parseArith would.
func (p *parser) parseFlatSum() (expr, error) {
	line := p.toks[p.i].line
	x, err := p.parseFlatTerm()
	if err != nil {
		return nil, err
	}
	var chain *arithExpr
	for t := &p.toks[p.i]; t.kind == tOp && (t.text == "+" || t.text == "-"); t = &p.toks[p.i] {
		p.i++
		y, err := p.parseFlatTerm()
		if err != nil {
			return nil, err
		}
		if chain == nil {
			chain = p.newArith(line, x)
		}
		chain.ops, chain.rest = append(chain.ops, t.text), append(chain.rest, y)
	}
	if chain == nil {
		return x, nil
	}
	return chain, nil
}

// parseFlatTerm parses a term of what flatArith accepted as parseTerm would.
func (p *parser) parseFlatTerm() (expr, error) {
	line := p.toks[p.i].line
	x, err := p.parseAtom()
	if err != nil {
		return nil, err
	}
	var chain *arithExpr
	for t := &p.toks[p.i]; t.kind == tOp && (t.text == "*" || t.text == "/" || t.text == "//" || t.text == "%"); t = &p.toks[p.i] {
		p.i++
		y, err := p.parseAtom()
		if err != nil {
			return nil, err
		}
		if chain == nil {
			chain = p.newArith(line, x)
		}
		chain.ops, chain.rest = append(chain.ops, t.text), append(chain.rest, y)
	}
	if chain == nil {
		return x, nil
	}
	return chain, nil
}

func (p *parser) parseOr() (expr, error) {
	line := p.toks[p.i].line
	x, err := p.parseAnd()
	if err != nil || !p.isKw("or") {
		return x, err
	}
	xs := []expr{x}
	for p.eatKw("or") {
		y, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	return &boolExpr{line: line, op: "or", xs: xs}, nil
}

func (p *parser) parseAnd() (expr, error) {
	line := p.toks[p.i].line
	x, err := p.parseNot()
	if err != nil || !p.isKw("and") {
		return x, err
	}
	xs := []expr{x}
	for p.eatKw("and") {
		y, err := p.parseNot()
		if err != nil {
			return nil, err
		}
		xs = append(xs, y)
	}
	return &boolExpr{line: line, op: "and", xs: xs}, nil
}

func (p *parser) parseNot() (expr, error) {
	if !p.isKw("not") {
		return p.parseComparison()
	}
	line := p.next().line
	if err := p.enter(); err != nil {
		return nil, err
	}
	x, err := p.parseNot()
	if err != nil {
		return nil, err
	}
	p.leave()
	return &unaryExpr{line: line, op: "not", x: x}, nil
}

func (p *parser) compareOp() string {
	t := p.peek()
	if t.kind == tOp {
		switch t.text {
		case "<", ">", "==", ">=", "<=", "!=":
			p.next()
			return t.text
		}
		return ""
	}
	switch {
	case p.eatKw("in"):
		return "in"
	case p.isKw("not") && p.toks[p.i+1].kind == tName && p.toks[p.i+1].text == "in":
		p.i += 2
		return "not in"
	case p.eatKw("is"):
		if p.eatKw("not") {
			return "is not"
		}
		return "is"
	}
	return ""
}

func (p *parser) parseComparison() (expr, error) {
	line := p.peek().line
	x, err := p.parseArith()
	if err != nil {
		return nil, err
	}
	op := p.compareOp()
	if op == "" {
		return x, nil
	}
	c := &compareExpr{line: line, first: x}
	for ; op != ""; op = p.compareOp() {
		y, err := p.parseArith()
		if err != nil {
			return nil, err
		}
		c.ops, c.rest = append(c.ops, op), append(c.rest, y)
	}
	return c, nil
}

// parseArith and parseTerm build flat left-associative chains.
func (p *parser) parseArith() (expr, error) {
	line := p.toks[p.i].line
	x, err := p.parseTerm()
	if err != nil {
		return nil, err
	}
	var chain *arithExpr
	for {
		t := &p.toks[p.i]
		if t.kind != tOp {
			break
		}
		if unsupportedBinop(t.text) {
			return nil, syntaxErr(t.line, "unsupported operator '"+clip(t.text)+"'")
		}
		if t.text != "+" && t.text != "-" {
			break
		}
		op := t.text
		p.i++
		y, err := p.parseTerm()
		if err != nil {
			return nil, err
		}
		if chain == nil {
			chain = p.newArith(line, x)
		}
		chain.ops, chain.rest = append(chain.ops, op), append(chain.rest, y)
	}
	if chain == nil {
		return x, nil
	}
	return chain, nil
}

func (p *parser) parseTerm() (expr, error) {
	line := p.toks[p.i].line
	x, err := p.parseFactor()
	if err != nil {
		return nil, err
	}
	var chain *arithExpr
	for {
		t := &p.toks[p.i]
		if t.kind != tOp {
			break
		}
		if unsupportedBinop(t.text) {
			return nil, syntaxErr(t.line, "unsupported operator '"+clip(t.text)+"'")
		}
		if t.text != "*" && t.text != "/" && t.text != "//" && t.text != "%" {
			break
		}
		op := t.text
		p.i++
		y, err := p.parseFactor()
		if err != nil {
			return nil, err
		}
		if chain == nil {
			chain = p.newArith(line, x)
		}
		chain.ops, chain.rest = append(chain.ops, op), append(chain.rest, y)
	}
	if chain == nil {
		return x, nil
	}
	return chain, nil
}

// unsupportedBinop reports whether op is a binary operator of Python that the subset rejects.
func unsupportedBinop(op string) bool {
	switch op {
	case "|", "&", "^", "<<", ">>", "@":
		return true
	}
	return false
}

// parseFactor parses unary + and -, which bind looser than ** on their right: -2**2 == -4.
func (p *parser) parseFactor() (expr, error) {
	t := &p.toks[p.i]
	if t.kind != tOp || (t.text != "-" && t.text != "+" && t.text != "~") {
		return p.parsePower()
	}
	if t.text == "~" {
		return nil, syntaxErr(t.line, "unsupported operator '~'")
	}
	p.i++
	if err := p.enter(); err != nil {
		return nil, err
	}
	x, err := p.parseFactor()
	if err != nil {
		return nil, err
	}
	p.leave()
	return &unaryExpr{line: t.line, op: t.text, x: x}, nil
}

// parsePower parses `primary ** factor`: right-associative, and the exponent may carry a sign.
func (p *parser) parsePower() (expr, error) {
	line := p.toks[p.i].line
	x, err := p.parsePrimary()
	if err != nil || !p.isOp("**") {
		return x, err
	}
	p.i++
	if err := p.enter(); err != nil {
		return nil, err
	}
	y, err := p.parseFactor()
	if err != nil {
		return nil, err
	}
	p.leave()
	return &powExpr{line: line, base: x, exp: y}, nil
}

func (p *parser) parsePrimary() (expr, error) {
	x, err := p.parseAtom()
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tOp || len(t.text) != 1 {
			return x, nil
		}
		switch t.text[0] {
		case '(':
			p.next()
			c := &callExpr{line: t.line, fn: x}
			for !p.isOp(")") {
				if p.isOp("*") || p.isOp("**") {
					return nil, syntaxErr(t.line, "star arguments are not supported")
				}
				if p.peek().kind == tName && p.toks[p.i+1].kind == tOp && p.toks[p.i+1].text == "=" {
					name := p.next().text
					p.next()
					a, err := p.parseExpr()
					if err != nil {
						return nil, err
					}
					c.kwNames, c.kwArgs = append(c.kwNames, name), append(c.kwArgs, a)
					if !p.eatOp(",") {
						break
					}
					continue
				}
				if len(c.kwNames) > 0 {
					return nil, syntaxErr(t.line, "positional argument follows keyword argument")
				}
				a, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				if p.isKw("for") {
					if len(c.args) > 0 {
						return nil, syntaxErr(t.line, "a generator expression must be the only argument")
					}
					if a, err = p.parseComp(t.line, a); err != nil {
						return nil, err
					}
				}
				c.args = append(c.args, a)
				if !p.eatOp(",") {
					break
				}
			}
			if err := p.expectOp(")"); err != nil {
				return nil, err
			}
			x = c
		case '[':
			p.next()
			idx, err := p.parseExpr()
			if err != nil {
				return nil, err
			}
			if p.isOp(":") || p.isOp(",") {
				return nil, syntaxErr(t.line, "slices are not supported")
			}
			if err := p.expectOp("]"); err != nil {
				return nil, err
			}
			x = &indexExpr{line: t.line, x: x, idx: idx}
		case '.':
			p.next()
			n := p.next()
			if n.kind != tName {
				return nil, syntaxErr(t.line, "expected an attribute name after '.'")
			}
			x = &attrExpr{line: t.line, x: x, name: n.text}
		default:
			return x, nil
		}
	}
}

func (p *parser) parseAtom() (expr, error) {
	t := p.peek()
	switch t.kind {
	case tNumber:
		p.next()
		v, err := parseNumber(t.text, t.line)
		if err != nil {
			return nil, err
		}
		return p.newLit(t.line, v), nil
	case tString:
		p.i++
		if p.toks[p.i].kind != tString {
			// One literal: its text is already a substring of the source.
			return p.newLit(t.line, value{k: kStr, str: t.text}), nil
		}
		var b strings.Builder
		b.WriteString(t.text)
		for p.toks[p.i].kind == tString { // adjacent literals concatenate
			b.WriteString(p.next().text)
		}
		return p.newLit(t.line, value{k: kStr, str: b.String()}), nil
	case tName:
		p.next()
		switch t.text {
		case "True":
			return p.newLit(t.line, mkBool(true)), nil
		case "False":
			return p.newLit(t.line, mkBool(false)), nil
		case "None":
			return p.newLit(t.line, value{k: kNone}), nil
		}
		if t.kw {
			return nil, syntaxErr(t.line, "unexpected '"+clip(t.text)+"'")
		}
		return p.newName(t.line, t.text), nil
	case tOp:
		switch t.text {
		case "(", "[":
			p.next()
			closer := ")"
			if t.text == "[" {
				closer = "]"
			}
			s := &seqExpr{line: t.line, tuple: t.text == "("}
			for !p.isOp(closer) {
				x, err := p.parseExpr()
				if err != nil {
					return nil, err
				}
				if p.isKw("for") && len(s.elts) == 0 {
					c, err := p.parseComp(t.line, x)
					if err != nil {
						return nil, err
					}
					if err := p.expectOp(closer); err != nil {
						return nil, err
					}
					return c, nil
				}
				s.elts = append(s.elts, x)
				if !p.eatOp(",") {
					if s.tuple && len(s.elts) == 1 {
						// (x) is just x; (x,) is a tuple.
						if err := p.expectOp(")"); err != nil {
							return nil, err
						}
						return x, nil
					}
					break
				}
			}
			if err := p.expectOp(closer); err != nil {
				return nil, err
			}
			return s, nil
		case "{":
			return nil, syntaxErr(t.line, "dict and set literals are not supported")
		}
	}
	return nil, p.unexpected("expected an expression")
}

// parseComp parses the `for ... in ... if ...` clauses after a comprehension's element.
func (p *parser) parseComp(line int, elt expr) (expr, error) {
	c := &compExpr{line: line, elt: elt}
	for p.eatKw("for") {
		target, err := p.parseTargetList()
		if err != nil {
			return nil, err
		}
		if !p.eatKw("in") {
			return nil, p.unexpected("expected 'in'")
		}
		iter, err := p.parseOr()
		if err != nil {
			return nil, err
		}
		cl := compClause{target: target, iter: iter}
		for p.eatKw("if") {
			cond, err := p.parseOr()
			if err != nil {
				return nil, err
			}
			cl.conds = append(cl.conds, cond)
		}
		c.clauses = append(c.clauses, cl)
	}
	return c, nil
}

// parseNumber turns a numeric literal into an exact value.
func parseNumber(text string, line int) (value, error) {
	if len(text) <= 18 && allDigits(text) && (text[0] != '0' || len(text) == 1) {
		// The common case, plain decimal digits that fit an int64: no big.Int needed.
		n, _ := strconv.ParseInt(text, 10, 64)
		return mkSmall(n), nil
	}
	if len(text) > maxLiteralChars {
		return value{}, syntaxErr(line, "number literal too long (limit "+strconv.Itoa(maxLiteralChars)+" characters)")
	}
	// Underscores may only separate digits.
	for i := 0; i < len(text); i++ {
		if text[i] == '_' && (i == 0 || i == len(text)-1 || !isAlnum(text[i-1]) || !isAlnum(text[i+1])) {
			return value{}, syntaxErr(line, "invalid number literal '"+clip(text)+"'")
		}
	}
	clean := strings.ReplaceAll(text, "_", "")
	bad := func() (value, error) { return value{}, syntaxErr(line, "invalid number literal '"+clip(text)+"'") }
	if len(clean) > 1 && clean[0] == '0' && strings.IndexByte("xXoObB", clean[1]) >= 0 {
		base := map[byte]int{'x': 16, 'o': 8, 'b': 2}[clean[1]|0x20]
		n, ok := new(big.Int).SetString(clean[2:], base)
		if !ok {
			return bad()
		}
		return mkInt(new(big.Rat).SetInt(n)), nil
	}
	if !strings.ContainsAny(clean, ".eE") {
		if len(clean) > 1 && clean[0] == '0' && strings.Trim(clean, "0") != "" {
			return value{}, syntaxErr(line, "leading zeros in decimal integer literals are not permitted")
		}
		n, ok := new(big.Int).SetString(clean, 10)
		if !ok {
			return bad()
		}
		return mkInt(new(big.Rat).SetInt(n)), nil
	}
	if v, ok := plainDecimal(clean); ok {
		return v, nil
	}
	f, err := strconv.ParseFloat(clean, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) {
		return bad()
	}
	if math.IsInf(f, 0) {
		return value{}, syntaxErr(line, "float literal out of range: "+clip(text))
	}
	if f == 0 {
		// Zero, or so small that CPython rounds it to 0.0 too.
		return mkFloat(new(big.Rat)), nil
	}
	r, ok := new(big.Rat).SetString(clean)
	if !ok {
		return bad()
	}
	return mkFloat(r), nil
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isDigit(s[i]) {
			return false
		}
	}
	return true
}

// pow10s[k] is 10**k.
var pow10s = [19]int64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14,
	1e15, 1e16, 1e17, 1e18}

// plainDecimal is the exact value of a float literal of at most 18 digits and a point, no
// exponent (1.5, 0.08333333333333333, 12.): mantissa/10**k with SetFrac64, the same normalised
// rational big.Rat.SetString gives, without its power computation. Such a literal is never out
// of range and is zero only when every digit is, as parseNumber's general path would find.
func plainDecimal(s string) (value, bool) {
	var mant int64
	digits, point := 0, -1
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case isDigit(c):
			mant = mant*10 + int64(c-'0')
			digits++
			if digits > 18 {
				return value{}, false
			}
		case c == '.' && point < 0:
			point = i
		default:
			return value{}, false
		}
	}
	if digits == 0 || point < 0 {
		return value{}, false
	}
	if mant == 0 {
		return mkFloat(new(big.Rat)), true
	}
	return mkFloat(new(big.Rat).SetFrac64(mant, pow10s[len(s)-1-point])), true
}

// clip shortens program text quoted in an error message.
func clip(s string) string {
	if len(s) <= 40 {
		return s
	}
	n := 40
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "..."
}

func isAlnum(c byte) bool { return isDigit(c) || (c|0x20 >= 'a' && c|0x20 <= 'z') }

// ---------------------------------------------------------------------------------------------
// Values

type kind uint8

const (
	kNone kind = iota
	kBool
	kInt
	kFloat
	kStr
	kList
	kTuple
	kRange
	kFunc
	kBuiltin
	kModule
	kMethod
)

// value is every Python object the subset has. Numbers (bool, int, float) share num, which is
// never mutated after creation, so values can be copied freely.
type value struct {
	k       kind
	inexact bool     // a float that went through float64 (or was rounded) on the way
	num     *big.Rat // kFloat always; kInt and kBool only when the value does not fit small
	// small holds a kInt or kBool value when num is nil. Loop counters, indexes and sums of
	// small integers then need no allocation: under wasm, allocation dominated the run time.
	// (inexact sits beside k so that the struct, copied on every evaluation, is 8 bytes less.)
	small   int64
	str     string    // kStr: literal text; kBuiltin, kMethod: function name; kModule: module name
	seq     *seqObj   // kList, kTuple, kMethod (the receiver)
	rng     *rangeObj // kRange
	fn      *funcDef  // kFunc
	closure *env      // kFunc
}

type seqObj struct{ items []value }

type rangeObj struct{ start, stop, step *big.Int }

// smallLimit bounds the operands of the allocation-free integer fast path so that +, -, //
// and % cannot overflow int64; products use a tighter bound (smallMulLimit).
const (
	smallLimit    = 1 << 62
	smallMulLimit = 1 << 31
)

func mkInt(r *big.Rat) value {
	if r.IsInt() && r.Num().IsInt64() {
		return value{k: kInt, small: r.Num().Int64()}
	}
	return value{k: kInt, num: r}
}

func mkIntInt(n *big.Int) value {
	if n.IsInt64() {
		return value{k: kInt, small: n.Int64()}
	}
	return value{k: kInt, num: new(big.Rat).SetInt(n)}
}

func mkSmall(i int64) value    { return value{k: kInt, small: i} }
func mkFloat(r *big.Rat) value { return value{k: kFloat, num: r} }

var ratOne = big.NewRat(1, 1)

func mkBool(b bool) value {
	if b {
		return value{k: kBool, small: 1}
	}
	return value{k: kBool}
}

// isSmall reports whether v is an int or bool held unboxed.
func (v value) isSmall() bool { return v.num == nil && (v.k == kInt || v.k == kBool) }

// rat returns a number's exact value.
func (v value) rat() *big.Rat {
	if v.isSmall() {
		return new(big.Rat).SetInt64(v.small)
	}
	return v.num
}

// cmpNum compares two numbers.
func cmpNum(a, b value) int {
	if a.isSmall() && b.isSmall() {
		switch {
		case a.small < b.small:
			return -1
		case a.small > b.small:
			return 1
		}
		return 0
	}
	return a.rat().Cmp(b.rat())
}

func inSmall(x, limit int64) bool { return x > -limit && x < limit }

// smallArith is the fast path of binop for two small ints; ok is false when the operation
// needs the general path (true division, powers, zero divisors, possible overflow).
func smallArith(op string, x, y int64) (value, bool) {
	if !inSmall(x, smallLimit) || !inSmall(y, smallLimit) {
		return value{}, false
	}
	switch op {
	case "+":
		return mkSmall(x + y), true
	case "-":
		return mkSmall(x - y), true
	case "*":
		if inSmall(x, smallMulLimit) && inSmall(y, smallMulLimit) {
			return mkSmall(x * y), true
		}
	case "//", "%":
		if y == 0 {
			return value{}, false
		}
		q, m := x/y, x%y
		if m != 0 && (m < 0) != (y < 0) { // Go truncates; Python floors
			q--
			m += y
		}
		if op == "//" {
			return mkSmall(q), true
		}
		return mkSmall(m), true
	}
	return value{}, false
}

func isNum(v value) bool { return v.k == kBool || v.k == kInt || v.k == kFloat }

func typeName(v value) string {
	switch v.k {
	case kNone:
		return "NoneType"
	case kBool:
		return "bool"
	case kInt:
		return "int"
	case kFloat:
		return "float"
	case kStr:
		return "str"
	case kList:
		return "list"
	case kTuple:
		return "tuple"
	case kRange:
		return "range"
	case kModule:
		return "module"
	}
	return "function"
}

func truthy(v value) bool {
	switch v.k {
	case kNone:
		return false
	case kBool, kInt, kFloat:
		if v.isSmall() {
			return v.small != 0
		}
		return v.num.Sign() != 0
	case kStr:
		return v.str != ""
	case kList, kTuple:
		return len(v.seq.items) > 0
	case kRange:
		return rangeLen(v.rng).Sign() > 0
	}
	return true
}

// ---------------------------------------------------------------------------------------------
// Interpreter

type ctl uint8

const (
	ctlNone ctl = iota
	ctlBreak
	ctlContinue
	ctlReturn
)

// env is one scope. Names are symbols (see parser.sym), kept in a small slice searched
// linearly: under wasm that costs far less than hashing a string key. A scope that grows past
// envLinear names also gets an index by symbol, so a hostile program with thousands of
// variables stays linear time.
type env struct {
	slots  []slot
	index  []int32 // position+1 in slots by symbol, once len(slots) > envLinear
	parent *env    // the enclosing function's scope (or the module's), read-only from here
}

type slot struct {
	id int32
	v  value
}

// envBuf is a scope with room for its first few names and, when the program has at most
// envDirect symbols (every GSM-Hard program), an index by symbol: a lookup is then one load,
// and a call still allocates once.
type envBuf struct {
	env
	buf [6]slot
	idx [envDirect]int32
}

const envDirect = 64

func (in *interp) newEnv(parent *env) *env {
	b := &envBuf{env: env{parent: parent}}
	b.slots = b.buf[:0]
	if in.nsyms <= envDirect {
		b.index = b.idx[:in.nsyms]
	}
	return &b.env
}

const envLinear = 16

// find returns the position of symbol id in e's own slots, or -1.
func (e *env) find(id int32) int {
	if e.index != nil {
		return int(e.index[id]) - 1
	}
	for i := range e.slots {
		if e.slots[i].id == id {
			return i
		}
	}
	return -1
}

// set binds symbol id in scope e.
func (in *interp) set(e *env, id int32, v value) {
	if i := e.find(id); i >= 0 {
		e.slots[i].v = v
		return
	}
	if e.slots == nil {
		e.slots = make([]slot, 0, 8)
	}
	e.slots = append(e.slots, slot{id: id, v: v})
	if e.index != nil {
		e.index[id] = int32(len(e.slots))
	} else if len(e.slots) > envLinear {
		// A dense index costs 4 bytes per symbol of the program (64 KiB source: at most ~32 k
		// symbols, 128 KiB) and under wasm its zeroing is one memory.fill.
		e.index = make([]int32, in.nsyms)
		for i := range e.slots {
			e.index[e.slots[i].id] = int32(i + 1)
		}
	}
}

func (e *env) lookup(x *nameExpr) (value, bool) {
	for ; e != nil; e = e.parent {
		if i := e.find(x.id); i >= 0 {
			return e.slots[i].v, true
		}
	}
	if x.builtin {
		return value{k: kBuiltin, str: x.name}, true
	}
	return value{}, false
}

type interp struct {
	globals *env
	nsyms   int // the size of the symbol table, for env.index
	steps   int
	depth   int
	calls   int
}

// step charges n units of work against the step budget.
func (in *interp) step(line, n int) error {
	in.steps += n
	if in.steps > maxSteps {
		return runErr(line, "step limit exceeded ("+strconv.Itoa(maxSteps)+" steps): the program runs too long or loops forever")
	}
	return nil
}

func (in *interp) execBlock(body []stmt, e *env) (ctl, value, error) {
	for _, s := range body {
		// What exec was: in.step(s.pos(), 1) and in.enter(s.pos()), inline (s.pos() is only
		// needed for an error), then execNode. One call less per statement.
		if in.steps++; in.steps > maxSteps {
			return ctlNone, value{}, in.step(s.pos(), 0)
		}
		if in.depth++; in.depth > maxEvalDepth {
			return ctlNone, value{}, runErr(s.pos(), "evaluation nested too deeply (limit "+strconv.Itoa(maxEvalDepth)+")")
		}
		c, v, err := in.execNode(s, e)
		in.depth-- // not deferred: this is the hot path, and defer is costly under TinyGo
		if err != nil || c != ctlNone {
			return c, v, err
		}
	}
	return ctlNone, value{}, nil
}

func (in *interp) execNode(s stmt, e *env) (ctl, value, error) {
	switch s := s.(type) {
	case *passStmt:
	case *exprStmt:
		_, err := in.eval(s.x, e)
		return ctlNone, value{}, err
	case *assignStmt:
		v, err := in.eval(s.value, e)
		if err != nil {
			return ctlNone, value{}, err
		}
		for _, t := range s.targets {
			if err := in.assign(t, v, e); err != nil {
				return ctlNone, value{}, err
			}
		}
	case *augStmt:
		return ctlNone, value{}, in.augAssign(s, e)
	case *ifStmt:
		for i, c := range s.conds {
			v, err := in.eval(c, e)
			if err != nil {
				return ctlNone, value{}, err
			}
			if truthy(v) {
				return in.execBlock(s.bodies[i], e)
			}
		}
		return in.execBlock(s.els, e)
	case *whileStmt:
		for {
			v, err := in.eval(s.cond, e)
			if err != nil {
				return ctlNone, value{}, err
			}
			if !truthy(v) {
				return ctlNone, value{}, nil
			}
			c, rv, err := in.execBlock(s.body, e)
			if err != nil || c == ctlReturn {
				return c, rv, err
			}
			if c == ctlBreak {
				return ctlNone, value{}, nil
			}
			if err := in.step(s.line, 1); err != nil {
				return ctlNone, value{}, err
			}
		}
	case *forStmt:
		it, err := in.eval(s.iter, e)
		if err != nil {
			return ctlNone, value{}, err
		}
		var c ctl
		var rv value
		err = in.each(it, s.line, func(x value) (bool, error) {
			if err := in.assign(s.target, x, e); err != nil {
				return false, err
			}
			var err error
			c, rv, err = in.execBlock(s.body, e)
			if err != nil || c == ctlBreak || c == ctlReturn {
				return false, err
			}
			c = ctlNone
			return true, nil
		})
		if c == ctlBreak {
			c = ctlNone
		}
		return c, rv, err
	case *jumpStmt:
		return s.kind, value{}, nil
	case *returnStmt:
		if s.x == nil {
			return ctlReturn, value{k: kNone}, nil
		}
		v, err := in.eval(s.x, e)
		return ctlReturn, v, err
	case *defStmt:
		in.set(e, s.fn.id, value{k: kFunc, fn: s.fn, closure: e})
	case *importStmt:
		for i, n := range s.names {
			if !s.from {
				in.set(e, s.ids[i], value{k: kModule, str: "math"})
				continue
			}
			v, ok := mathAttr(n)
			if !ok {
				return ctlNone, value{}, runErr(s.line, "cannot import name '"+clip(n)+"' from math (not supported)")
			}
			in.set(e, s.ids[i], v)
		}
	case *assertStmt:
		v, err := in.eval(s.x, e)
		if err != nil {
			return ctlNone, value{}, err
		}
		if !truthy(v) {
			return ctlNone, value{}, runErr(s.line, "assertion failed")
		}
	default:
		return ctlNone, value{}, runErr(s.pos(), "unsupported statement")
	}
	return ctlNone, value{}, nil
}

func (in *interp) assign(t expr, v value, e *env) error {
	switch t := t.(type) {
	case *nameExpr:
		in.set(e, t.id, v)
		return nil
	case *indexExpr:
		c, err := in.eval(t.x, e)
		if err != nil {
			return err
		}
		idx, err := in.eval(t.idx, e)
		if err != nil {
			return err
		}
		if c.k != kList {
			return runErr(t.line, "'"+typeName(c)+"' object does not support item assignment")
		}
		i, err := seqIndex(c, idx, t.line)
		if err != nil {
			return err
		}
		c.seq.items[i] = v
		return nil
	case *seqExpr:
		var items []value
		err := in.each(v, t.line, func(x value) (bool, error) {
			if len(items) > len(t.elts) {
				return false, nil
			}
			items = append(items, x)
			return true, nil
		})
		if err != nil {
			return err
		}
		if len(items) > len(t.elts) {
			return runErr(t.line, "too many values to unpack (expected "+strconv.Itoa(len(t.elts))+")")
		}
		if len(items) < len(t.elts) {
			return runErr(t.line, "not enough values to unpack (expected "+strconv.Itoa(len(t.elts))+", got "+strconv.Itoa(len(items))+")")
		}
		for i, x := range t.elts {
			if err := in.assign(x, items[i], e); err != nil {
				return err
			}
		}
		return nil
	}
	return runErr(t.pos(), "cannot assign to this expression")
}

func (in *interp) augAssign(s *augStmt, e *env) error {
	rhs, err := in.eval(s.value, e)
	if err != nil {
		return err
	}
	switch t := s.target.(type) {
	case *nameExpr:
		cur, err := in.eval(t, e)
		if err != nil {
			return err
		}
		if cur.k == kList && s.op == "+" {
			// list += iterable extends in place, as in CPython (aliases see the change).
			return in.extend(cur, rhs, s.line)
		}
		v, err := in.binop(s.op, cur, rhs, s.line)
		if err != nil {
			return err
		}
		in.set(e, t.id, v)
		return nil
	case *indexExpr:
		c, err := in.eval(t.x, e)
		if err != nil {
			return err
		}
		idx, err := in.eval(t.idx, e)
		if err != nil {
			return err
		}
		if c.k != kList {
			return runErr(t.line, "'"+typeName(c)+"' object does not support item assignment")
		}
		i, err := seqIndex(c, idx, t.line)
		if err != nil {
			return err
		}
		v, err := in.binop(s.op, c.seq.items[i], rhs, s.line)
		if err != nil {
			return err
		}
		c.seq.items[i] = v
		return nil
	}
	return runErr(s.line, "cannot assign to this expression")
}

func (in *interp) eval(x expr, e *env) (value, error) {
	// in.step(x.pos(), 1) and in.enter(x.pos()) inline: x.pos() is only needed for an error.
	if in.steps++; in.steps > maxSteps {
		return value{}, in.step(x.pos(), 0)
	}
	if in.depth++; in.depth > maxEvalDepth {
		return value{}, runErr(x.pos(), "evaluation nested too deeply (limit "+strconv.Itoa(maxEvalDepth)+")")
	}
	// Literals and names, most of all nodes evaluated, without the call to evalNode.
	switch x := x.(type) {
	case *litExpr:
		in.depth--
		return x.v, nil
	case *nameExpr:
		in.depth--
		v, ok := e.lookup(x)
		if !ok {
			return value{}, runErr(x.line, "name '"+clip(x.name)+"' is not defined")
		}
		return v, nil
	}
	v, err := in.evalNode(x, e)
	in.depth--
	return v, err
}

func (in *interp) evalNode(x expr, e *env) (value, error) {
	switch x := x.(type) {
	case *litExpr:
		return x.v, nil
	case *nameExpr:
		v, ok := e.lookup(x)
		if !ok {
			return value{}, runErr(x.line, "name '"+clip(x.name)+"' is not defined")
		}
		return v, nil
	case *unaryExpr:
		v, err := in.eval(x.x, e)
		if err != nil {
			return value{}, err
		}
		if x.op == "not" {
			return mkBool(!truthy(v)), nil
		}
		if !isNum(v) {
			return value{}, runErr(x.line, "bad operand type for unary "+x.op+": '"+typeName(v)+"'")
		}
		if v.k == kBool {
			v.k = kInt
		}
		if x.op == "-" {
			return negate(v), nil
		}
		return v, nil
	case *arithExpr:
		acc, err := in.eval(x.first, e)
		if err != nil {
			return value{}, err
		}
		for i, op := range x.ops {
			y, err := in.eval(x.rest[i], e)
			if err != nil {
				return value{}, err
			}
			if acc, err = in.binop(op, acc, y, x.line); err != nil {
				return value{}, err
			}
		}
		return acc, nil
	case *powExpr:
		a, err := in.eval(x.base, e)
		if err != nil {
			return value{}, err
		}
		b, err := in.eval(x.exp, e)
		if err != nil {
			return value{}, err
		}
		return in.binop("**", a, b, x.line)
	case *boolExpr:
		// and/or return the deciding operand, not a bool, as in Python.
		var v value
		for _, sub := range x.xs {
			var err error
			if v, err = in.eval(sub, e); err != nil {
				return value{}, err
			}
			if truthy(v) == (x.op == "or") {
				return v, nil
			}
		}
		return v, nil
	case *compareExpr:
		a, err := in.eval(x.first, e)
		if err != nil {
			return value{}, err
		}
		for i, op := range x.ops {
			b, err := in.eval(x.rest[i], e)
			if err != nil {
				return value{}, err
			}
			ok, err := compare(op, a, b, x.line)
			if err != nil || !ok {
				return mkBool(false), err
			}
			a = b
		}
		return mkBool(true), nil
	case *condExpr:
		c, err := in.eval(x.cond, e)
		if err != nil {
			return value{}, err
		}
		if truthy(c) {
			return in.eval(x.yes, e)
		}
		return in.eval(x.alt, e)
	case *seqExpr:
		items := make([]value, 0, len(x.elts))
		for _, el := range x.elts {
			v, err := in.eval(el, e)
			if err != nil {
				return value{}, err
			}
			items = append(items, v)
		}
		k := kList
		if x.tuple {
			k = kTuple
		}
		return value{k: k, seq: &seqObj{items: items}}, nil
	case *compExpr:
		var items []value
		// Comprehension variables live in their own scope, as in Python 3.
		scope := in.newEnv(e)
		if err := in.comprehend(x, 0, scope, &items); err != nil {
			return value{}, err
		}
		return value{k: kList, seq: &seqObj{items: items}}, nil
	case *indexExpr:
		c, err := in.eval(x.x, e)
		if err != nil {
			return value{}, err
		}
		idx, err := in.eval(x.idx, e)
		if err != nil {
			return value{}, err
		}
		if c.k == kRange {
			lst, err := in.materialize(c, x.line)
			if err != nil {
				return value{}, err
			}
			c = lst
		}
		if c.k != kList && c.k != kTuple {
			return value{}, runErr(x.line, "'"+typeName(c)+"' object is not subscriptable")
		}
		i, err := seqIndex(c, idx, x.line)
		if err != nil {
			return value{}, err
		}
		return c.seq.items[i], nil
	case *attrExpr:
		v, err := in.eval(x.x, e)
		if err != nil {
			return value{}, err
		}
		switch v.k {
		case kModule:
			if a, ok := mathAttr(x.name); ok {
				return a, nil
			}
			return value{}, runErr(x.line, "math."+clip(x.name)+" is not supported")
		case kList:
			switch x.name {
			case "append", "remove", "pop", "extend", "sort", "index", "count", "insert", "reverse":
				return value{k: kMethod, str: x.name, seq: v.seq}, nil
			}
		}
		return value{}, runErr(x.line, "'"+typeName(v)+"' object has no supported attribute '"+clip(x.name)+"'")
	case *callExpr:
		f, err := in.eval(x.fn, e)
		if err != nil {
			return value{}, err
		}
		args := make([]value, 0, len(x.args))
		for _, a := range x.args {
			v, err := in.eval(a, e)
			if err != nil {
				return value{}, err
			}
			args = append(args, v)
		}
		for i, name := range x.kwNames {
			v, err := in.eval(x.kwArgs[i], e)
			if err != nil {
				return value{}, err
			}
			switch {
			case f.k == kBuiltin && f.str == "print":
				// sep=, end=, flush=: print's output is discarded anyway.
			case f.k == kBuiltin && ((f.str == "round" && name == "ndigits") || (f.str == "sum" && name == "start")) && len(args) == 1:
				args = append(args, v)
			default:
				return value{}, runErr(x.line, "keyword argument '"+clip(name)+"' is not supported in this call")
			}
		}
		return in.call(f, args, x.line)
	}
	return value{}, runErr(x.pos(), "unsupported expression")
}

func (in *interp) comprehend(c *compExpr, i int, scope *env, out *[]value) error {
	if i == len(c.clauses) {
		v, err := in.eval(c.elt, scope)
		if err != nil {
			return err
		}
		if len(*out) >= maxListLen {
			return runErr(c.line, "list too long (limit "+strconv.Itoa(maxListLen)+" items)")
		}
		*out = append(*out, v)
		return nil
	}
	cl := c.clauses[i]
	it, err := in.eval(cl.iter, scope)
	if err != nil {
		return err
	}
	return in.each(it, c.line, func(x value) (bool, error) {
		if err := in.assign(cl.target, x, scope); err != nil {
			return false, err
		}
		for _, cond := range cl.conds {
			v, err := in.eval(cond, scope)
			if err != nil {
				return false, err
			}
			if !truthy(v) {
				return true, nil
			}
		}
		return true, in.comprehend(c, i+1, scope, out)
	})
}

// each calls f for every item of an iterable until f returns false or an error. Lists are
// walked by index over the live slice, as CPython does, so appending inside the loop is seen.
func (in *interp) each(v value, line int, f func(value) (bool, error)) error {
	switch v.k {
	case kList, kTuple:
		for i := 0; i < len(v.seq.items); i++ {
			if err := in.step(line, 1); err != nil {
				return err
			}
			more, err := f(v.seq.items[i])
			if err != nil || !more {
				return err
			}
		}
		return nil
	case kRange:
		r := v.rng
		if fits := func(n *big.Int) bool { return n.IsInt64() && inSmall(n.Int64(), smallLimit) }; fits(r.start) && fits(r.stop) && fits(r.step) {
			// Bounds under 2**62 in magnitude: cur + step cannot overflow.
			start, stop, step := r.start.Int64(), r.stop.Int64(), r.step.Int64()
			for cur := start; (step > 0 && cur < stop) || (step < 0 && cur > stop); cur += step {
				if err := in.step(line, 1); err != nil {
					return err
				}
				more, err := f(mkSmall(cur))
				if err != nil || !more {
					return err
				}
			}
			return nil
		}
		cur := new(big.Int).Set(r.start)
		for (r.step.Sign() > 0 && cur.Cmp(r.stop) < 0) || (r.step.Sign() < 0 && cur.Cmp(r.stop) > 0) {
			if err := in.step(line, 1+cur.BitLen()/1024); err != nil {
				return err
			}
			more, err := f(mkIntInt(cur))
			if err != nil || !more {
				return err
			}
			cur = new(big.Int).Add(cur, r.step)
		}
		return nil
	}
	return runErr(line, "'"+typeName(v)+"' object is not iterable")
}

func (in *interp) materialize(v value, line int) (value, error) {
	var items []value
	err := in.each(v, line, func(x value) (bool, error) {
		if len(items) >= maxListLen {
			return false, runErr(line, "list too long (limit "+strconv.Itoa(maxListLen)+" items)")
		}
		items = append(items, x)
		return true, nil
	})
	return value{k: kList, seq: &seqObj{items: items}}, err
}

func (in *interp) extend(dst, src value, line int) error {
	return in.each(src, line, func(x value) (bool, error) {
		if len(dst.seq.items) >= maxListLen {
			return false, runErr(line, "list too long (limit "+strconv.Itoa(maxListLen)+" items)")
		}
		dst.seq.items = append(dst.seq.items, x)
		return true, nil
	})
}

// seqIndex resolves a Python index (negative counts from the end) into a list or tuple.
func seqIndex(c, idx value, line int) (int, error) {
	if idx.k != kInt && idx.k != kBool {
		return 0, runErr(line, "indices must be integers, not "+typeName(idx))
	}
	n := int64(len(c.seq.items))
	if !idx.isSmall() || idx.small >= n || idx.small < -n {
		return 0, runErr(line, typeName(c)+" index out of range")
	}
	j := int(idx.small)
	if j < 0 {
		j += int(n)
	}
	return j, nil
}

func (in *interp) call(f value, args []value, line int) (value, error) {
	switch f.k {
	case kBuiltin:
		return in.builtin(f.str, args, line)
	case kMethod:
		return in.method(f, args, line)
	case kFunc:
		fn := f.fn
		if len(args) != len(fn.params) {
			return value{}, runErr(line, clip(fn.name)+"() takes "+strconv.Itoa(len(fn.params))+" arguments but "+strconv.Itoa(len(args))+" were given")
		}
		in.calls++
		defer func() { in.calls-- }()
		if in.calls > maxCallDepth {
			return value{}, runErr(line, "maximum recursion depth exceeded (limit "+strconv.Itoa(maxCallDepth)+" calls)")
		}
		scope := in.newEnv(f.closure)
		for i, id := range fn.paramIDs {
			in.set(scope, id, args[i])
		}
		c, v, err := in.execBlock(fn.body, scope)
		if err != nil {
			return value{}, err
		}
		if c != ctlReturn {
			return value{k: kNone}, nil
		}
		return v, nil
	}
	return value{}, runErr(line, "'"+typeName(f)+"' object is not callable")
}

// ---------------------------------------------------------------------------------------------
// Arithmetic

// negate returns -v for a number (a bool becomes an int).
func negate(v value) value {
	if v.isSmall() && inSmall(v.small, smallLimit) {
		return mkSmall(-v.small)
	}
	r := new(big.Rat).Neg(v.rat())
	if v.k == kFloat {
		return value{k: kFloat, num: r, inexact: v.inexact}
	}
	return mkInt(r)
}

// bigCost is the extra step charge for one big.Rat operation on numbers of the given total bit
// length. The base of 10 is what allocation costs under wasm, where one big.Rat operation on
// small operands takes as long as many plain steps (docs/RATIONALE.md, "arith_program is
// written for what wasm charges"). One step per word
// and a quadratic term follow, because multiplication, division and the GCD that keeps a
// big.Rat normalised are quadratic in the size. A loop over ten-thousand-digit numbers (or over
// floats whose exact value grows) then hits the step limit in a second or two instead of
// running for minutes.
func bigCost(bits int) int {
	w := bits / 64
	return 10 + w + w*w/64
}

func ratBits(r *big.Rat) int { return r.Num().BitLen() + r.Denom().BitLen() }

// smallBits is ratBits of a small int, without boxing it: |n|'s bit length plus 1 for the
// denominator.
func smallBits(n int64) int {
	u := uint64(n)
	if n < 0 {
		u = -u
	}
	return bits.Len64(u) + 1
}

// finish checks a fresh arithmetic result against the size limits and charges for its size.
func (in *interp) finish(r *big.Rat, float, inexact bool, line int) (value, error) {
	if !float {
		if r.Num().BitLen()+r.Denom().BitLen() > maxIntBits {
			return value{}, runErr(line, "integer too large (limit about 10000 digits)")
		}
		return mkInt(r), nil
	}
	if r.Num().BitLen()-r.Denom().BitLen() > 1025 {
		if f, _ := r.Float64(); math.IsInf(f, 0) {
			return value{}, runErr(line, "float overflow: result out of range of a Python float")
		}
	}
	if r.Denom().BitLen()-r.Num().BitLen() > 1080 {
		if f, _ := r.Float64(); f == 0 {
			// Below the smallest float64: CPython underflows to 0.0, and keeping the exact
			// value would let a loop like `x *= 1e-300` grow the denominator without bound.
			r = new(big.Rat)
		}
	}
	if r.Num().BitLen() > floatRoundBits && r.Denom().BitLen() > floatRoundBits {
		if err := in.step(line, bigCost(ratBits(r))); err != nil {
			return value{}, err
		}
		f := new(big.Float).SetPrec(floatPrec).SetRat(r)
		r, _ = f.Rat(nil)
		inexact = true
	}
	return value{k: kFloat, num: r, inexact: inexact}, nil
}

func (in *interp) binop(op string, a, b value, line int) (value, error) {
	if !isNum(a) || !isNum(b) {
		if op == "+" && (a.k == kList || a.k == kTuple) && a.k == b.k {
			n := len(a.seq.items) + len(b.seq.items)
			if n > maxListLen {
				return value{}, runErr(line, "list too long (limit "+strconv.Itoa(maxListLen)+" items)")
			}
			// One step per item, as building the list item by item would cost: this bounds the
			// memory all lists of a run can take, not just each one.
			if err := in.step(line, n); err != nil {
				return value{}, err
			}
			items := make([]value, 0, n)
			items = append(append(items, a.seq.items...), b.seq.items...)
			return value{k: a.k, seq: &seqObj{items: items}}, nil
		}
		return value{}, runErr(line, "unsupported operand type(s) for "+op+": '"+typeName(a)+"' and '"+typeName(b)+"'")
	}
	if a.isSmall() && b.isSmall() {
		if v, ok := smallArith(op, a.small, b.small); ok {
			return v, nil
		}
		if op == "/" && b.small != 0 {
			// A true quotient of two small ints: SetFrac64 builds the same normalised rational
			// without first boxing both operands.
			if err := in.step(line, bigCost(smallBits(a.small)+smallBits(b.small))); err != nil {
				return value{}, err
			}
			return in.finish(new(big.Rat).SetFrac64(a.small, b.small), true, a.inexact || b.inexact, line)
		}
	}
	x, y := a.rat(), b.rat() // each boxes a small int: call once
	if err := in.step(line, bigCost(ratBits(x)+ratBits(y))); err != nil {
		return value{}, err
	}
	float := a.k == kFloat || b.k == kFloat
	inexact := a.inexact || b.inexact
	r := new(big.Rat)
	switch op {
	case "+":
		r.Add(x, y)
	case "-":
		r.Sub(x, y)
	case "*":
		r.Mul(x, y)
	case "/":
		if y.Sign() == 0 {
			return value{}, runErr(line, "division by zero")
		}
		r.Quo(x, y)
		float = true
	case "//", "%":
		if y.Sign() == 0 {
			if op == "//" {
				return value{}, runErr(line, "integer division or modulo by zero")
			}
			return value{}, runErr(line, "modulo by zero")
		}
		if !float && x.IsInt() && y.IsInt() {
			// Integers: divide the big.Ints directly, without the GCD a big.Rat quotient needs.
			q, m := new(big.Int).QuoRem(x.Num(), y.Num(), new(big.Int))
			if m.Sign() != 0 && m.Sign() != y.Sign() { // QuoRem truncates; Python floors
				q.Sub(q, big.NewInt(1))
				m.Add(m, y.Num())
			}
			if op == "//" {
				return mkIntInt(q), nil
			}
			return mkIntInt(m), nil
		}
		q := ratFloor(new(big.Rat).Quo(x, y))
		if op == "//" {
			r.SetInt(q)
		} else {
			// a - b*floor(a/b) takes the divisor's sign, as Python's % does.
			r.Sub(x, new(big.Rat).Mul(y, new(big.Rat).SetInt(q)))
		}
	case "**":
		return in.pow(a, b, line)
	default:
		return value{}, runErr(line, "unsupported operator '"+op+"'")
	}
	return in.finish(r, float, inexact, line)
}

// ratFloor returns floor(r). big.Int.Div is Euclidean, which is floor for the always-positive
// denominator of a big.Rat.
func ratFloor(r *big.Rat) *big.Int {
	return new(big.Int).Div(r.Num(), r.Denom())
}

func ratCeil(r *big.Rat) *big.Int {
	q := ratFloor(r)
	if !r.IsInt() {
		q.Add(q, big.NewInt(1))
	}
	return q
}

func ratTrunc(r *big.Rat) *big.Int { return new(big.Int).Quo(r.Num(), r.Denom()) }

// pow implements a ** b. Integer exponents are exact; a fractional exponent goes through
// math.Pow and marks the result inexact.
func (in *interp) pow(a, b value, line int) (value, error) {
	float := a.k == kFloat || b.k == kFloat
	inexact := a.inexact || b.inexact
	x := a.rat()
	if b.rat().IsInt() {
		e := b.rat().Num()
		if e.Sign() < 0 {
			float = true // int ** negative int is a float in Python
			if x.Sign() == 0 {
				return value{}, runErr(line, "division by zero: 0 cannot be raised to a negative power")
			}
		}
		switch {
		case e.Sign() == 0:
			return in.finish(big.NewRat(1, 1), float, inexact, line)
		case x.Sign() == 0:
			return in.finish(new(big.Rat), float, inexact, line)
		case x.IsInt() && x.Num().CmpAbs(big.NewInt(1)) == 0:
			r := big.NewRat(1, 1)
			if x.Sign() < 0 && e.Bit(0) == 1 {
				r.Neg(r)
			}
			return in.finish(r, float, inexact, line)
		}
		// Every other base has |num| >= 2 or den >= 2, so the result has at least |e| bits:
		// refuse before computing anything huge.
		bitsPer := max(x.Num().BitLen(), x.Denom().BitLen()) - 1
		if bitsPer < 1 {
			bitsPer = 1
		}
		if e.BitLen() > 40 || bitsPer*int(new(big.Int).Abs(e).Int64()) > maxIntBits {
			if !float {
				return value{}, runErr(line, "integer too large: ** result would exceed about 10000 digits")
			}
			return in.floatPow(x, b.rat(), line)
		}
		n := new(big.Int).Abs(e)
		if err := in.step(line, bigCost(bitsPer*int(n.Int64()))); err != nil {
			return value{}, err
		}
		num := new(big.Int).Exp(x.Num(), n, nil)
		den := new(big.Int).Exp(x.Denom(), n, nil)
		if e.Sign() < 0 {
			num, den = den, num
		}
		return in.finish(new(big.Rat).SetFrac(num, den), float, inexact, line)
	}
	if x.Sign() < 0 {
		return value{}, runErr(line, "negative number raised to a fractional power (complex result) is not supported")
	}
	if x.Sign() == 0 {
		if b.rat().Sign() < 0 {
			return value{}, runErr(line, "division by zero: 0 cannot be raised to a negative power")
		}
		return in.finish(new(big.Rat), true, inexact, line)
	}
	return in.floatPow(x, b.rat(), line)
}

func (in *interp) floatPow(x, y *big.Rat, line int) (value, error) {
	xf, _ := x.Float64()
	yf, _ := y.Float64()
	f := math.Pow(xf, yf)
	if math.IsInf(f, 0) || math.IsInf(xf, 0) {
		return value{}, runErr(line, "float overflow: result out of range of a Python float")
	}
	if math.IsNaN(f) {
		return value{}, runErr(line, "math domain error")
	}
	return in.finish(new(big.Rat).SetFloat64(f), true, true, line)
}

func compare(op string, a, b value, line int) (bool, error) {
	switch op {
	case "==":
		return equal(a, b), nil
	case "!=":
		return !equal(a, b), nil
	case "is", "is not":
		if a.k != kNone && b.k != kNone {
			return false, runErr(line, "'"+op+"' is only supported with None")
		}
		return (a.k == b.k) == (op == "is"), nil
	case "in", "not in":
		found := false
		switch b.k {
		case kList, kTuple:
			for _, it := range b.seq.items {
				if equal(a, it) {
					found = true
					break
				}
			}
		case kRange:
			found = isNum(a) && a.rat().IsInt() && inRange(b.rng, a.rat().Num())
		default:
			return false, runErr(line, "argument of type '"+typeName(b)+"' is not a container")
		}
		return found == (op == "in"), nil
	}
	if !isNum(a) || !isNum(b) {
		return false, runErr(line, "'"+op+"' not supported between instances of '"+typeName(a)+"' and '"+typeName(b)+"'")
	}
	c := cmpNum(a, b)
	switch op {
	case "<":
		return c < 0, nil
	case "<=":
		return c <= 0, nil
	case ">":
		return c > 0, nil
	}
	return c >= 0, nil // ">="
}

func equal(a, b value) bool {
	switch {
	case isNum(a) && isNum(b):
		return cmpNum(a, b) == 0
	case a.k != b.k:
		return false
	case a.k == kNone:
		return true
	case a.k == kStr:
		return a.str == b.str
	case a.k == kList || a.k == kTuple:
		if len(a.seq.items) != len(b.seq.items) {
			return false
		}
		for i := range a.seq.items {
			if !equal(a.seq.items[i], b.seq.items[i]) {
				return false
			}
		}
		return true
	}
	return a == b
}

// ---------------------------------------------------------------------------------------------
// Builtins, math and list methods

func isBuiltin(name string) bool {
	// abs bool divmod enumerate float int len list max min pow print range reversed round
	// sorted sum tuple zip, by first letter: constant comparisons, no loop over a list.
	if len(name) < 3 || len(name) > 9 {
		return false
	}
	switch name[0] {
	case 'a':
		return name == "abs"
	case 'b':
		return name == "bool"
	case 'd':
		return name == "divmod"
	case 'e':
		return name == "enumerate"
	case 'f':
		return name == "float"
	case 'i':
		return name == "int"
	case 'l':
		return name == "len" || name == "list"
	case 'm':
		return name == "max" || name == "min"
	case 'p':
		return name == "pow" || name == "print"
	case 'r':
		return name == "range" || name == "reversed" || name == "round"
	case 's':
		return name == "sorted" || name == "sum"
	case 't':
		return name == "tuple"
	case 'z':
		return name == "zip"
	}
	return false
}

func nargs(name string, args []value, lo, hi, line int) error {
	if len(args) < lo || len(args) > hi {
		want := strconv.Itoa(lo)
		if hi > lo {
			want += " to " + strconv.Itoa(hi)
		}
		return runErr(line, name+"() takes "+want+" arguments ("+strconv.Itoa(len(args))+" given)")
	}
	return nil
}

func needNum(name string, v value, line int) error {
	if !isNum(v) {
		return runErr(line, name+"() argument must be a number, not '"+typeName(v)+"'")
	}
	return nil
}

func needInt(name string, v value, line int) (*big.Int, error) {
	if v.k != kInt && v.k != kBool {
		return nil, runErr(line, name+"() argument must be an integer, not '"+typeName(v)+"'")
	}
	return v.rat().Num(), nil
}

// snap returns the exact value of the float64 nearest to a float, so that functions that cut
// to an integer see what CPython sees (see the package comment).
func snap(v value) *big.Rat {
	if v.k != kFloat {
		return v.rat()
	}
	f, _ := v.num.Float64()
	if math.IsInf(f, 0) {
		return v.num
	}
	return new(big.Rat).SetFloat64(f)
}

func (in *interp) builtin(name string, args []value, line int) (value, error) {
	if m, ok := strings.CutPrefix(name, "math."); ok {
		return in.mathFunc(m, args, line)
	}
	switch name {
	case "print":
		return value{k: kNone}, nil // output is not part of the answer
	case "abs":
		if err := nargs(name, args, 1, 1, line); err != nil {
			return value{}, err
		}
		if err := needNum(name, args[0], line); err != nil {
			return value{}, err
		}
		if cmpNum(args[0], mkBool(false)) < 0 {
			return negate(args[0]), nil
		}
		v := args[0]
		if v.k == kBool {
			v.k = kInt
		}
		return v, nil
	case "int":
		if err := nargs(name, args, 0, 1, line); err != nil {
			return value{}, err
		}
		if len(args) == 0 {
			return mkInt(new(big.Rat)), nil
		}
		if err := needNum(name, args[0], line); err != nil {
			return value{}, err
		}
		return mkIntInt(ratTrunc(snap(args[0]))), nil
	case "float":
		if err := nargs(name, args, 0, 1, line); err != nil {
			return value{}, err
		}
		if len(args) == 0 {
			return mkFloat(new(big.Rat)), nil
		}
		if err := needNum(name, args[0], line); err != nil {
			return value{}, err
		}
		return in.finish(args[0].rat(), true, args[0].inexact, line)
	case "bool":
		if err := nargs(name, args, 0, 1, line); err != nil {
			return value{}, err
		}
		return mkBool(len(args) == 1 && truthy(args[0])), nil
	case "round":
		return in.round(args, line)
	case "pow":
		if err := nargs(name, args, 2, 2, line); err != nil {
			return value{}, err
		}
		return in.binop("**", args[0], args[1], line)
	case "divmod":
		if err := nargs(name, args, 2, 2, line); err != nil {
			return value{}, err
		}
		q, err := in.binop("//", args[0], args[1], line)
		if err != nil {
			return value{}, err
		}
		r, err := in.binop("%", args[0], args[1], line)
		if err != nil {
			return value{}, err
		}
		return value{k: kTuple, seq: &seqObj{items: []value{q, r}}}, nil
	case "range":
		if err := nargs(name, args, 1, 3, line); err != nil {
			return value{}, err
		}
		ints := make([]*big.Int, len(args))
		for i, a := range args {
			n, err := needInt(name, a, line)
			if err != nil {
				return value{}, err
			}
			ints[i] = n
		}
		r := &rangeObj{start: new(big.Int), step: big.NewInt(1)}
		switch len(ints) {
		case 1:
			r.stop = ints[0]
		case 3:
			if ints[2].Sign() == 0 {
				return value{}, runErr(line, "range() arg 3 must not be zero")
			}
			r.step = ints[2]
			fallthrough
		case 2:
			r.start, r.stop = ints[0], ints[1]
		}
		return value{k: kRange, rng: r}, nil
	case "len":
		if err := nargs(name, args, 1, 1, line); err != nil {
			return value{}, err
		}
		switch a := args[0]; a.k {
		case kList, kTuple:
			return mkIntInt(big.NewInt(int64(len(a.seq.items)))), nil
		case kRange:
			return mkIntInt(rangeLen(a.rng)), nil
		case kStr:
			return mkIntInt(big.NewInt(int64(utf8.RuneCountInString(a.str)))), nil
		}
		return value{}, runErr(line, "object of type '"+typeName(args[0])+"' has no len()")
	case "list", "tuple", "sorted", "reversed":
		if err := nargs(name, args, 0, 1, line); err != nil {
			return value{}, err
		}
		var lst value
		if len(args) == 0 {
			lst = value{k: kList, seq: &seqObj{}}
		} else {
			var err error
			if lst, err = in.materialize(args[0], line); err != nil {
				return value{}, err
			}
		}
		switch name {
		case "tuple":
			lst.k = kTuple
		case "sorted":
			if err := in.sortItems(lst.seq.items, line); err != nil {
				return value{}, err
			}
		case "reversed":
			reverse(lst.seq.items)
		}
		return lst, nil
	case "sum":
		if err := nargs(name, args, 1, 2, line); err != nil {
			return value{}, err
		}
		acc := mkInt(new(big.Rat))
		if len(args) == 2 {
			acc = args[1]
		}
		if args[0].k == kRange && len(args) == 1 {
			// A closed form, so that sum(range(10**9)) is one step rather than a billion.
			return in.finish(rangeSum(args[0].rng), false, false, line)
		}
		err := in.each(args[0], line, func(x value) (bool, error) {
			var err error
			acc, err = in.binop("+", acc, x, line)
			return err == nil, err
		})
		return acc, err
	case "min", "max":
		return in.minMax(name, args, line)
	case "enumerate", "zip":
		return in.enumZip(name, args, line)
	}
	return value{}, runErr(line, name+"() is not supported")
}

// round implements round(x) and round(x, n) with Python's half-to-even rule. round(x) and
// round(int, n) give an int; round(float, n) gives a float.
func (in *interp) round(args []value, line int) (value, error) {
	if err := nargs("round", args, 1, 2, line); err != nil {
		return value{}, err
	}
	x := args[0]
	if err := needNum("round", x, line); err != nil {
		return value{}, err
	}
	if len(args) == 1 || args[1].k == kNone {
		return mkIntInt(roundHalfEven(snap(x))), nil
	}
	nd, err := needInt("round", args[1], line)
	if err != nil {
		return value{}, err
	}
	if !nd.IsInt64() || nd.Int64() > 400 || nd.Int64() < -400 {
		// Past a float's range CPython returns x unchanged (or 0 for huge negative n).
		if nd.Sign() > 0 {
			return x, nil
		}
		return in.finish(new(big.Rat), x.k == kFloat, x.inexact, line)
	}
	n := nd.Int64()
	scale := pow10(int(abs64(n)))
	r := new(big.Rat).Set(snap(x))
	if n >= 0 {
		r.Mul(r, scale)
	} else {
		r.Quo(r, scale)
	}
	r.SetInt(roundHalfEven(r))
	if n >= 0 {
		r.Quo(r, scale)
	} else {
		r.Mul(r, scale)
	}
	return in.finish(r, x.k == kFloat, x.inexact, line)
}

func abs64(n int64) int64 {
	if n < 0 {
		return -n
	}
	return n
}

func roundHalfEven(r *big.Rat) *big.Int {
	q := ratFloor(r)
	frac := new(big.Rat).Sub(r, new(big.Rat).SetInt(q))
	switch frac.Cmp(big.NewRat(1, 2)) {
	case 1:
		q.Add(q, big.NewInt(1))
	case 0:
		if q.Bit(0) == 1 {
			q.Add(q, big.NewInt(1))
		}
	}
	return q
}

func (in *interp) minMax(name string, args []value, line int) (value, error) {
	if len(args) == 0 {
		return value{}, runErr(line, name+"() expected at least 1 argument, got 0")
	}
	items := args
	if len(args) == 1 {
		lst, err := in.materialize(args[0], line)
		if err != nil {
			return value{}, err
		}
		items = lst.seq.items
		if len(items) == 0 {
			return value{}, runErr(line, name+"() arg is an empty sequence")
		}
	}
	best := items[0]
	for _, it := range items[1:] {
		// Strict comparison keeps the first of equal items, as Python does.
		op := ">"
		if name == "min" {
			op = "<"
		}
		better, err := compare(op, it, best, line)
		if err != nil {
			return value{}, err
		}
		if better {
			best = it
		}
	}
	return best, nil
}

func (in *interp) enumZip(name string, args []value, line int) (value, error) {
	var lists [][]value
	for _, a := range args {
		lst, err := in.materialize(a, line)
		if err != nil {
			return value{}, err
		}
		lists = append(lists, lst.seq.items)
	}
	var out []value
	if name == "enumerate" {
		if err := nargs(name, args, 1, 1, line); err != nil {
			return value{}, err
		}
		for i, x := range lists[0] {
			out = append(out, value{k: kTuple, seq: &seqObj{items: []value{mkIntInt(big.NewInt(int64(i))), x}}})
		}
	} else if len(lists) > 0 {
		n := len(lists[0])
		for _, l := range lists {
			n = min(n, len(l))
		}
		for i := 0; i < n; i++ {
			t := make([]value, len(lists))
			for j := range lists {
				t[j] = lists[j][i]
			}
			out = append(out, value{k: kTuple, seq: &seqObj{items: t}})
		}
	}
	return value{k: kList, seq: &seqObj{items: out}}, nil
}

func (in *interp) sortItems(items []value, line int) error {
	for _, it := range items {
		if !isNum(it) {
			return runErr(line, "only lists of numbers can be sorted")
		}
	}
	if err := in.step(line, len(items)); err != nil {
		return err
	}
	sort.SliceStable(items, func(i, j int) bool { return cmpNum(items[i], items[j]) < 0 })
	return nil
}

func reverse(items []value) {
	for i, j := 0, len(items)-1; i < j; i, j = i+1, j-1 {
		items[i], items[j] = items[j], items[i]
	}
}

func (in *interp) method(m value, args []value, line int) (value, error) {
	s := m.seq
	none := value{k: kNone}
	switch m.str {
	case "append":
		if err := nargs(m.str, args, 1, 1, line); err != nil {
			return value{}, err
		}
		if len(s.items) >= maxListLen {
			return value{}, runErr(line, "list too long (limit "+strconv.Itoa(maxListLen)+" items)")
		}
		s.items = append(s.items, args[0])
		return none, nil
	case "extend":
		if err := nargs(m.str, args, 1, 1, line); err != nil {
			return value{}, err
		}
		return none, in.extend(value{k: kList, seq: s}, args[0], line)
	case "insert":
		if err := nargs(m.str, args, 2, 2, line); err != nil {
			return value{}, err
		}
		n, err := needInt(m.str, args[0], line)
		if err != nil {
			return value{}, err
		}
		if len(s.items) >= maxListLen {
			return value{}, runErr(line, "list too long (limit "+strconv.Itoa(maxListLen)+" items)")
		}
		i := len(s.items)
		if n.Sign() < 0 && !n.IsInt64() {
			i = 0
		} else if n.IsInt64() && n.Int64() < int64(i) {
			i = int(max(n.Int64(), -int64(i)))
			if i < 0 {
				i += len(s.items)
			}
		}
		s.items = append(s.items, value{})
		copy(s.items[i+1:], s.items[i:])
		s.items[i] = args[1]
		return none, nil
	case "remove", "index", "count":
		if err := nargs(m.str, args, 1, 1, line); err != nil {
			return value{}, err
		}
		count := 0
		for i, it := range s.items {
			if !equal(it, args[0]) {
				continue
			}
			switch m.str {
			case "remove":
				s.items = append(s.items[:i:i], s.items[i+1:]...)
				return none, nil
			case "index":
				return mkIntInt(big.NewInt(int64(i))), nil
			}
			count++
		}
		if m.str == "count" {
			return mkIntInt(big.NewInt(int64(count))), nil
		}
		return value{}, runErr(line, "list."+m.str+"(x): x not in list")
	case "pop":
		if err := nargs(m.str, args, 0, 1, line); err != nil {
			return value{}, err
		}
		if len(s.items) == 0 {
			return value{}, runErr(line, "pop from empty list")
		}
		i := len(s.items) - 1
		if len(args) == 1 {
			var err error
			if i, err = seqIndex(value{k: kList, seq: s}, args[0], line); err != nil {
				return value{}, err
			}
		}
		v := s.items[i]
		s.items = append(s.items[:i:i], s.items[i+1:]...)
		return v, nil
	case "sort":
		if err := nargs(m.str, args, 0, 0, line); err != nil {
			return value{}, err
		}
		return none, in.sortItems(s.items, line)
	case "reverse":
		if err := nargs(m.str, args, 0, 0, line); err != nil {
			return value{}, err
		}
		reverse(s.items)
		return none, nil
	}
	return value{}, runErr(line, "list."+m.str+"() is not supported")
}

var mathPi, mathE = new(big.Rat).SetFloat64(math.Pi), new(big.Rat).SetFloat64(math.E)

// mathAttr resolves math.NAME. pi and e are CPython's float constants exactly.
func mathAttr(name string) (value, bool) {
	switch name {
	case "pi":
		return mkFloat(mathPi), true
	case "e":
		return mkFloat(mathE), true
	case "floor", "ceil", "trunc", "sqrt", "isqrt", "fabs", "gcd", "factorial", "comb", "log", "log10",
		"log2", "exp", "pow":
		return value{k: kBuiltin, str: "math." + name}, true
	}
	return value{}, false
}

func (in *interp) mathFunc(name string, args []value, line int) (value, error) {
	want := 1
	switch name {
	case "gcd", "comb", "pow":
		want = 2
	}
	if name == "log" && len(args) == 2 {
		want = 2
	}
	if err := nargs("math."+name, args, want, want, line); err != nil {
		return value{}, err
	}
	for _, a := range args {
		if err := needNum("math."+name, a, line); err != nil {
			return value{}, err
		}
	}
	x := args[0]
	switch name {
	case "floor":
		return mkIntInt(ratFloor(snap(x))), nil
	case "ceil":
		return mkIntInt(ratCeil(snap(x))), nil
	case "trunc":
		return mkIntInt(ratTrunc(snap(x))), nil
	case "fabs":
		return in.finish(new(big.Rat).Abs(x.rat()), true, x.inexact, line)
	case "sqrt", "isqrt":
		if x.rat().Sign() < 0 {
			return value{}, runErr(line, "math domain error")
		}
		if name == "isqrt" {
			n, err := needInt("math.isqrt", x, line)
			if err != nil {
				return value{}, err
			}
			return mkIntInt(new(big.Int).Sqrt(n)), nil
		}
		// Exact when numerator and denominator are perfect squares (sqrt(2.25) == 1.5).
		n, d := new(big.Int).Sqrt(x.rat().Num()), new(big.Int).Sqrt(x.rat().Denom())
		if new(big.Int).Mul(n, n).Cmp(x.rat().Num()) == 0 && new(big.Int).Mul(d, d).Cmp(x.rat().Denom()) == 0 {
			return in.finish(new(big.Rat).SetFrac(n, d), true, x.inexact, line)
		}
		return in.floatFunc(math.Sqrt, x, line)
	case "gcd", "comb":
		a, err := needInt("math."+name, args[0], line)
		if err != nil {
			return value{}, err
		}
		b, err := needInt("math."+name, args[1], line)
		if err != nil {
			return value{}, err
		}
		if name == "gcd" {
			return mkIntInt(new(big.Int).GCD(nil, nil, new(big.Int).Abs(a), new(big.Int).Abs(b))), nil
		}
		if a.Sign() < 0 || b.Sign() < 0 {
			return value{}, runErr(line, "math.comb() arguments must be non-negative")
		}
		if b.Cmp(a) > 0 {
			return mkInt(new(big.Rat)), nil
		}
		if !a.IsInt64() || a.Int64() > 5000 {
			return value{}, runErr(line, "math.comb() argument too large")
		}
		return in.finish(new(big.Rat).SetInt(new(big.Int).Binomial(a.Int64(), b.Int64())), false, false, line)
	case "factorial":
		n, err := needInt("math.factorial", x, line)
		if err != nil {
			return value{}, err
		}
		if n.Sign() < 0 {
			return value{}, runErr(line, "factorial() not defined for negative values")
		}
		if !n.IsInt64() || n.Int64() > 3000 {
			return value{}, runErr(line, "integer too large: factorial argument over 3000")
		}
		return in.finish(new(big.Rat).SetInt(new(big.Int).MulRange(1, n.Int64())), false, false, line)
	case "log", "log10", "log2":
		if x.rat().Sign() <= 0 {
			return value{}, runErr(line, "math domain error")
		}
		f := map[string]func(float64) float64{"log": math.Log, "log10": math.Log10, "log2": math.Log2}[name]
		if len(args) == 2 {
			b := args[1]
			if b.rat().Sign() <= 0 || b.rat().Cmp(ratOne) == 0 {
				return value{}, runErr(line, "math domain error")
			}
			xf, _ := x.rat().Float64()
			bf, _ := b.rat().Float64()
			return in.floatResult(math.Log(xf)/math.Log(bf), line)
		}
		return in.floatFunc(f, x, line)
	case "exp":
		return in.floatFunc(math.Exp, x, line)
	case "pow":
		// math.pow always returns a float.
		a := value{k: kFloat, num: args[0].rat(), inexact: args[0].inexact}
		b := value{k: kFloat, num: args[1].rat(), inexact: args[1].inexact}
		return in.pow(a, b, line)
	}
	return value{}, runErr(line, "math."+name+" is not supported")
}

func (in *interp) floatFunc(f func(float64) float64, x value, line int) (value, error) {
	xf, _ := x.rat().Float64()
	if math.IsInf(xf, 0) {
		return value{}, runErr(line, "int too large to convert to float")
	}
	return in.floatResult(f(xf), line)
}

func (in *interp) floatResult(f float64, line int) (value, error) {
	if math.IsInf(f, 0) {
		return value{}, runErr(line, "float overflow: result out of range of a Python float")
	}
	if math.IsNaN(f) {
		return value{}, runErr(line, "math domain error")
	}
	return in.finish(new(big.Rat).SetFloat64(f), true, true, line)
}

// ---------------------------------------------------------------------------------------------
// Ranges

func rangeLen(r *rangeObj) *big.Int {
	// ceil((stop - start) / step) for the step's direction, at least 0.
	d := new(big.Int).Sub(r.stop, r.start)
	s := r.step
	if s.Sign() < 0 {
		d.Neg(d)
		s = new(big.Int).Neg(s)
	}
	if d.Sign() <= 0 {
		return new(big.Int)
	}
	d.Add(d, s)
	d.Sub(d, big.NewInt(1))
	return d.Div(d, s)
}

func rangeSum(r *rangeObj) *big.Rat {
	// n*start + step*n*(n-1)/2
	n := rangeLen(r)
	sum := new(big.Int).Mul(n, r.start)
	t := new(big.Int).Mul(n, new(big.Int).Sub(n, big.NewInt(1)))
	t.Mul(t, r.step)
	t.Quo(t, big.NewInt(2)) // exact: n(n-1) is even
	return new(big.Rat).SetInt(sum.Add(sum, t))
}

func inRange(r *rangeObj, x *big.Int) bool {
	if r.step.Sign() > 0 && (x.Cmp(r.start) < 0 || x.Cmp(r.stop) >= 0) {
		return false
	}
	if r.step.Sign() < 0 && (x.Cmp(r.start) > 0 || x.Cmp(r.stop) <= 0) {
		return false
	}
	d := new(big.Int).Sub(x, r.start)
	return d.Mod(d, new(big.Int).Abs(r.step)).Sign() == 0
}

// ---------------------------------------------------------------------------------------------
// Output

// formatRat prints an integer with every digit and anything else as a decimal with 17
// significant digits (round half to even), trailing zeros dropped; exponent notation only for
// magnitudes below 1e-6 or from 1e21, as JavaScript and Python's repr do.
func formatRat(r *big.Rat) string {
	if r.IsInt() {
		return r.Num().String()
	}
	neg := r.Sign() < 0
	a := new(big.Rat).Abs(r)
	// e = floor(log10(a)): estimate from bit lengths, then correct exactly.
	e := int(float64(a.Num().BitLen()-a.Denom().BitLen()) * 0.30102999566398120)
	for a.Cmp(pow10(e)) < 0 {
		e--
	}
	for a.Cmp(pow10(e+1)) >= 0 {
		e++
	}
	const sig = 17
	m := roundHalfEven(new(big.Rat).Mul(a, pow10(sig-1-e)))
	digits := m.String()
	if len(digits) > sig { // rounding carried into a new digit: 9.99...95 -> 10.0
		e++
		digits = digits[:sig]
	}
	digits = strings.TrimRight(digits, "0")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	switch {
	case e >= 21 || e < -6:
		b.WriteString(digits[:1])
		if len(digits) > 1 {
			b.WriteByte('.')
			b.WriteString(digits[1:])
		}
		b.WriteByte('e')
		if e < 0 {
			b.WriteByte('-')
		} else {
			b.WriteByte('+')
		}
		if abs64(int64(e)) < 10 {
			b.WriteByte('0')
		}
		b.WriteString(strconv.Itoa(int(abs64(int64(e)))))
	case e >= 0:
		if len(digits) <= e+1 {
			b.WriteString(digits + strings.Repeat("0", e+1-len(digits)))
		} else {
			b.WriteString(digits[:e+1] + "." + digits[e+1:])
		}
	default:
		b.WriteString("0." + strings.Repeat("0", -e-1) + digits)
	}
	return b.String()
}

func pow10(n int) *big.Rat {
	if n >= -18 && n <= 18 { // from the table: no big.Int.Exp (formatRat calls this 3+ times)
		if n < 0 {
			return new(big.Rat).SetFrac64(1, pow10s[-n])
		}
		return new(big.Rat).SetInt64(pow10s[n])
	}
	p := new(big.Int).Exp(big.NewInt(10), big.NewInt(abs64(int64(n))), nil)
	if n < 0 {
		return new(big.Rat).SetFrac(big.NewInt(1), p)
	}
	return new(big.Rat).SetInt(p)
}
