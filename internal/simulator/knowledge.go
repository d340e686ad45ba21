package simulator

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"unicode"
)

// DefaultKnowledgePath is the knowledge file the simulator uses when none is given, relative to
// the repository root: the first 400 GSM-Hard dev records with their licence beside them.
const DefaultKnowledgePath = "testdata/gsm-hard/slice.jsonl"

// keyWords is how many leading words of a question index it. Questions shorter than this are
// rejected at load time: a GSM-style question is always longer, and a shorter one would match by
// accident inside ordinary prompt text.
const keyWords = 4

// maxRecordBytes bounds one line of a knowledge file.
const maxRecordBytes = 1 << 20

// ErrKnowledge is wrapped by every error about a malformed knowledge file.
var ErrKnowledge = errors.New("malformed knowledge")

// Record is one task instance the simulator knows: a question, the dataset's label, and
// optionally the reference program that computes it and a real model's recorded outputs.
type Record struct {
	// Idx is the record's index in the dataset it came from (the `idx` field), or its line
	// number minus one when the file has none.
	Idx int
	// Input is the question as a model under test sees it.
	Input string
	// Program is the reference program with its docstring removed (the docstring holds the
	// original GSM8K question, which differs from Input on GSM-Hard).
	Program string
	// Target is the dataset's label when it is a number (NaN otherwise). About one in ten
	// GSM-Hard labels is wrong; the simulator reproduces the label, right or wrong, because its
	// reference programs compute it.
	Target float64
	// TargetText is the label as the dataset writes it ("(D)", "Yes", "] ] >", "42").
	TargetText string
	// Recorded holds a real model's outputs for the item per prompting mode (ModeDirect,
	// ModeCoT), when the dataset has them.
	Recorded map[string]string
	// RecordedModel names the model whose outputs Recorded holds.
	RecordedModel string
	// Extraction is the reference answer to an extraction request for the item, a JSON object
	// in canonical form (keys sorted), when the knowledge has one (the `extraction` field).
	Extraction string
}

// Prompting modes of recorded outputs: the keys of Record.Recorded and of a knowledge file's
// `recorded` object.
const (
	// ModeDirect is an answer-only prompt: the reply is the answer.
	ModeDirect = "direct"
	// ModeCoT is a chain-of-thought prompt: reasoning, then "So the answer is X."
	ModeCoT = "cot"
)

// Numeric reports whether the label is a number.
func (r Record) Numeric() bool { return !math.IsNaN(r.Target) }

type entry struct {
	rec     Record
	norm    string    // normalised question
	squeeze string    // structural(question): tells apart questions that differ only in brackets
	digits  int       // most digits in any operand of the question
	numbers []float64 // operands of the question, in order
	steps   int       // statements in the program body
	// extractSteps is the statement count the extraction's error rate uses: one per value of
	// the reference extraction, plus one (see extract.go).
	extractSteps int
}

// Knowledge is an immutable index of known questions, safe for concurrent use.
type Knowledge struct {
	entries    []entry
	byKey      map[string][]int32 // first keyWords words -> entries
	seen       map[string]bool    // structural forms of the questions loaded
	short      []int32            // questions of fewer than keyWords words, matched structurally
	duplicates int
	noProgram  int // records without a reference program
	recorded   int // records with recorded outputs
	extraction int // records with a reference extraction
}

type rawRecord struct {
	Idx      json.RawMessage `json:"idx"`
	Input    *string         `json:"input"`
	Code     *string         `json:"code"`
	Target   json.RawMessage `json:"target"`
	Recorded json.RawMessage `json:"recorded"`
	// Extraction is a reference extraction: any JSON object (see extract.go).
	Extraction json.RawMessage `json:"extraction"`
}

// LoadKnowledgeFiles reads several knowledge files into one index (GSM-Hard and BBH families
// together, for example). A question known from an earlier file wins over a later duplicate.
func LoadKnowledgeFiles(paths ...string) (*Knowledge, error) {
	if len(paths) == 0 {
		return nil, fmt.Errorf("load knowledge: %w: no files", ErrKnowledge)
	}
	var all *Knowledge
	for _, p := range paths {
		k, err := LoadKnowledgeFile(p)
		if err != nil {
			return nil, err
		}
		if all == nil {
			all = k
			continue
		}
		all.merge(k)
	}
	return all, nil
}

// merge adds o's entries that k does not know yet. A question k knows already keeps its label,
// and gains the reference program or the recorded outputs it lacked: a file of generated
// reference programs (testdata/bbh/programs) completes the recorded BBH items.
func (k *Knowledge) merge(o *Knowledge) {
	var at map[string]int
	for _, e := range o.entries {
		if !k.seen[e.squeeze] {
			k.add(e)
			continue
		}
		if at == nil {
			at = make(map[string]int, len(k.entries))
			for i, x := range k.entries {
				at[x.squeeze] = i
			}
		}
		x := &k.entries[at[e.squeeze]]
		completed := false
		if x.rec.Program == "" && e.rec.Program != "" {
			x.rec.Program, x.steps = e.rec.Program, e.steps
			k.noProgram--
			completed = true
		}
		if x.rec.Extraction == "" && e.rec.Extraction != "" {
			x.rec.Extraction, x.extractSteps = e.rec.Extraction, e.extractSteps
			k.extraction++
			completed = true
		}
		if len(x.rec.Recorded) == 0 && len(e.rec.Recorded) > 0 {
			x.rec.Recorded, x.rec.RecordedModel = e.rec.Recorded, e.rec.RecordedModel
			k.recorded++
			completed = true
		}
		if !completed {
			k.duplicates++
		}
	}
	k.duplicates += o.duplicates
}

func (k *Knowledge) add(e entry) {
	k.seen[e.squeeze] = true
	if len(wordStarts(e.norm)) < keyWords {
		k.short = append(k.short, int32(len(k.entries)))
	}
	key := e.norm[:keyEnd(e.norm)]
	k.byKey[key] = append(k.byKey[key], int32(len(k.entries)))
	k.entries = append(k.entries, e)
	if e.rec.Program == "" {
		k.noProgram++
	}
	if len(e.rec.Recorded) > 0 {
		k.recorded++
	}
	if e.rec.Extraction != "" {
		k.extraction++
	}
}

// LoadKnowledgeFile reads a JSONL knowledge file: records with `input` and `target`, and
// optionally `idx`, `code` (a reference program defining solution()), `recorded` (a real
// model's outputs per prompting mode, as in the BBH files) and `extraction` (the JSON object a
// correct answer to an extraction request states).
func LoadKnowledgeFile(path string) (*Knowledge, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("load knowledge: %w", err)
	}
	defer f.Close()
	k, err := ParseKnowledge(f)
	if err != nil {
		return nil, fmt.Errorf("load knowledge %s: %w", path, err)
	}
	return k, nil
}

// LocateDefaultKnowledge finds DefaultKnowledgePath by walking up from the working directory to
// the repository root, so tests in any package of the module can start the simulator with the
// default knowledge.
func LocateDefaultKnowledge() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("locate default knowledge: %w", err)
	}
	for {
		p := filepath.Join(dir, DefaultKnowledgePath)
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return "", fmt.Errorf("locate default knowledge: %s not found under module root %s", DefaultKnowledgePath, dir)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("locate default knowledge: %s not found above the working directory", DefaultKnowledgePath)
		}
		dir = parent
	}
}

// ParseKnowledge reads JSONL knowledge records from r. Blank lines are skipped; a record whose
// question is one already loaded (modulo whitespace) is dropped (the first wins) and counted by
// Duplicates.
func ParseKnowledge(r io.Reader) (*Knowledge, error) {
	k := &Knowledge{byKey: make(map[string][]int32), seen: make(map[string]bool)}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 64<<10), maxRecordBytes)
	line := 0
	for sc.Scan() {
		line++
		b := bytes.TrimSpace(sc.Bytes())
		if len(b) == 0 {
			continue
		}
		e, err := parseRecord(b, line)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if k.seen[e.squeeze] {
			k.duplicates++
			continue
		}
		k.add(e)
	}
	if err := sc.Err(); err != nil {
		if errors.Is(err, bufio.ErrTooLong) {
			return nil, fmt.Errorf("line %d: %w: record longer than %d bytes", line+1, ErrKnowledge, maxRecordBytes)
		}
		return nil, fmt.Errorf("read knowledge: %w", err)
	}
	if len(k.entries) == 0 {
		return nil, fmt.Errorf("%w: no records", ErrKnowledge)
	}
	return k, nil
}

func parseRecord(b []byte, line int) (entry, error) {
	var raw rawRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&raw); err != nil {
		return entry{}, fmt.Errorf("%w: %v", ErrKnowledge, err)
	}
	if dec.More() {
		return entry{}, fmt.Errorf("%w: more than one JSON value on the line", ErrKnowledge)
	}
	if raw.Input == nil || strings.TrimSpace(*raw.Input) == "" {
		return entry{}, fmt.Errorf("%w: missing input", ErrKnowledge)
	}
	if raw.Code != nil && !strings.Contains(*raw.Code, "def solution") {
		return entry{}, fmt.Errorf("%w: code must define solution()", ErrKnowledge)
	}
	target, text, err := parseTarget(raw.Target)
	if err != nil {
		return entry{}, err
	}
	rec, model, err := parseRecorded(raw.Recorded)
	if err != nil {
		return entry{}, err
	}
	var ext string
	var extValues int
	if len(raw.Extraction) > 0 && string(raw.Extraction) != "null" {
		if ext, extValues, err = parseExtraction(raw.Extraction); err != nil {
			return entry{}, fmt.Errorf("%w: %v", ErrKnowledge, err)
		}
	}
	norm := normalize(*raw.Input)
	if len(wordStarts(norm)) < keyWords && len(strings.Fields(structural(*raw.Input))) < 2*keyWords {
		// A short question is known only when brackets make it specific ("( ( not ( True ) ) )
		// is"); it is then matched on its structural form alone (see find).
		return entry{}, fmt.Errorf("%w: question has fewer than %d words", ErrKnowledge, keyWords)
	}
	idx := line - 1
	var n int
	if len(raw.Idx) > 0 && json.Unmarshal(raw.Idx, &n) == nil {
		idx = n // string ids ("family/12") keep the line number
	}
	prog := ""
	if raw.Code != nil {
		prog = stripDocstring(*raw.Code)
	}
	nums := numbersIn(*raw.Input)
	return entry{
		rec:     Record{Idx: idx, Input: *raw.Input, Program: prog, Target: target, TargetText: text, Recorded: rec, RecordedModel: model, Extraction: ext},
		norm:    norm,
		squeeze: structural(*raw.Input),
		digits:  maxDigits(*raw.Input),
		numbers: nums,
		steps:   countSteps(prog),

		extractSteps: extValues + 1,
	}, nil
}

// structural is normalize that keeps brackets as words: "( not True ) and False" and
// "not ( True and False )" normalise alike but are different questions.
func structural(s string) string {
	var b strings.Builder
	space := true
	for _, r := range strings.ToLower(s) {
		switch {
		case strings.ContainsRune("()[]{}<>", r):
			if !space {
				b.WriteByte(' ')
			}
			b.WriteRune(r)
			b.WriteByte(' ')
			space = true
		case unicode.IsLetter(r) || unicode.IsDigit(r):
			b.WriteRune(r)
			space = false
		default:
			if !space {
				b.WriteByte(' ')
				space = true
			}
		}
	}
	return strings.TrimSpace(b.String())
}

// parseTarget reads a label: a JSON number, or a string (a number written as a string counts as
// a number too, as in BBH's arithmetic families).
func parseTarget(raw json.RawMessage) (float64, string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return 0, "", fmt.Errorf("%w: missing target", ErrKnowledge)
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		if strings.TrimSpace(s) == "" {
			return 0, "", fmt.Errorf("%w: empty target", ErrKnowledge)
		}
		if v, err := strconv.ParseFloat(strings.TrimSpace(s), 64); err == nil && finite(v) {
			return v, s, nil
		}
		return math.NaN(), s, nil
	}
	var v float64
	if err := json.Unmarshal(raw, &v); err != nil {
		return 0, "", fmt.Errorf("%w: target must be a number or a string", ErrKnowledge)
	}
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return 0, "", fmt.Errorf("%w: target must be finite", ErrKnowledge)
	}
	return v, formatNumber(v), nil
}

// parseRecorded reads the optional `recorded` object: a model name and one output per
// prompting mode.
func parseRecorded(raw json.RawMessage) (map[string]string, string, error) {
	if len(raw) == 0 || string(raw) == "null" {
		return nil, "", nil
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		return nil, "", fmt.Errorf("%w: recorded must be an object of strings", ErrKnowledge)
	}
	out := map[string]string{}
	model := ""
	for k, v := range m {
		s, ok := v.(string)
		if !ok {
			return nil, "", fmt.Errorf("%w: recorded.%s must be a string", ErrKnowledge, k)
		}
		if k == "model" {
			model = s
			continue
		}
		out[k] = s
	}
	return out, model, nil
}

// keyEnd is the byte offset just past the first keyWords words of a normalised string (or its
// length when it is shorter).
func keyEnd(norm string) int {
	words := 0
	for i := 0; i < len(norm); i++ {
		if norm[i] == ' ' {
			words++
			if words == keyWords {
				return i
			}
		}
	}
	return len(norm)
}

// Len is the number of distinct known questions.
func (k *Knowledge) Len() int { return len(k.entries) }

// Duplicates is the number of records dropped at load because their question was already known.
func (k *Knowledge) Duplicates() int { return k.duplicates }

// WithoutProgram is the number of known records without a reference program (GSM8K, BBH):
// program requests for them are answered as for an unknown question.
func (k *Knowledge) WithoutProgram() int { return k.noProgram }

// WithExtraction is the number of known records with a reference extraction.
func (k *Knowledge) WithExtraction() int { return k.extraction }

// WithRecorded is the number of known records with a real model's recorded outputs.
func (k *Knowledge) WithRecorded() int { return k.recorded }

// Record returns the i-th known record, 0 <= i < Len().
func (k *Knowledge) Record(i int) Record { return k.entries[i].rec }

// Find returns the index of the known question that occurs last in text (ending last; the longer
// one on a tie), or false if none occurs. Few-shot prompts show other known questions first, so
// the last one is the instance being asked.
func (k *Knowledge) Find(text string) (int, bool) {
	return k.find(normalize(text), text)
}

// find looks norm (the normalised prompt) up. raw is the prompt as written: when several known
// questions normalise alike (BBH's boolean expressions differ only in their parentheses), the
// one that occurs in raw, whitespace aside, wins.
func (k *Knowledge) find(norm, raw string) (int, bool) {
	best, ok := k.findNorm(norm)
	if !ok {
		// Short questions only when no ordinary one matched: the last occurrence of the
		// structural form, on token boundaries.
		if len(k.short) == 0 {
			return -1, false
		}
		st := " " + structural(raw) + " "
		at := -1
		for _, c := range k.short {
			if i := strings.LastIndex(st, " "+k.entries[c].squeeze+" "); i > at {
				best, at = int(c), i
			}
		}
		return best, at >= 0
	}
	q := k.entries[best].norm
	var same []int32
	for _, c := range k.byKey[q[:keyEnd(q)]] {
		if k.entries[c].norm == q {
			same = append(same, c)
		}
	}
	if len(same) < 2 {
		return best, true
	}
	squeezed := structural(raw)
	end := -1 // the one that ends last; a question that is a prefix of another loses to it
	for _, c := range same {
		q := k.entries[c].squeeze
		if i := strings.LastIndex(squeezed, q); i >= 0 && i+len(q) > end {
			best, end = int(c), i+len(q)
		}
	}
	return best, true
}

func (k *Knowledge) findNorm(norm string) (int, bool) {
	best, bestEnd, bestLen := -1, -1, -1
	starts := wordStarts(norm)
	for wi := 0; wi+keyWords <= len(starts); wi++ {
		s := starts[wi]
		var keyEndAt int
		if wi+keyWords < len(starts) {
			keyEndAt = starts[wi+keyWords] - 1
		} else {
			keyEndAt = len(norm)
		}
		cands, ok := k.byKey[norm[s:keyEndAt]]
		if !ok {
			continue
		}
		rest := norm[s:]
		for _, c := range cands {
			q := k.entries[c].norm
			if !strings.HasPrefix(rest, q) || (len(rest) > len(q) && rest[len(q)] != ' ') {
				continue
			}
			end := s + len(q)
			if end > bestEnd || (end == bestEnd && len(q) > bestLen) {
				best, bestEnd, bestLen = int(c), end, len(q)
			}
		}
	}
	return best, best >= 0
}

var docstringRE = regexp.MustCompile(`(?s)^(\s*def solution\([^)]*\):[ \t]*\n)[ \t]*(?:"""|''').*?(?:"""|''')[ \t]*\n`)

// stripDocstring removes the docstring of solution() and surrounding blank lines. GSM-Hard's
// docstrings hold the ORIGINAL GSM8K question, which a model under test must never see.
func stripDocstring(code string) string {
	code = strings.TrimLeft(code, "\r\n")
	if m := docstringRE.FindStringSubmatchIndex(code); m != nil {
		code = code[:m[3]] + code[m[1]:]
	}
	lines := strings.Split(strings.ReplaceAll(code, "\r\n", "\n"), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimRight(l, " \t")
	}
	return strings.Trim(strings.Join(lines, "\n"), "\n")
}

// countSteps counts the non-blank, non-comment statement lines inside the program.
func countSteps(prog string) int {
	n := 0
	for _, l := range strings.Split(prog, "\n") {
		t := strings.TrimSpace(l)
		if t == "" || strings.HasPrefix(t, "#") || strings.HasPrefix(t, "def ") {
			continue
		}
		n++
	}
	return n
}

var numberRE = regexp.MustCompile(`\d[\d,]*(?:\.\d+)?`)

// numbersIn returns the numbers written with digits in s, thousands separators removed.
func numbersIn(s string) []float64 {
	var out []float64
	for _, m := range numberRE.FindAllString(s, 64) {
		m = strings.TrimRight(strings.ReplaceAll(m, ",", ""), ".")
		var v float64
		if _, err := fmt.Sscan(m, &v); err == nil {
			out = append(out, v)
		}
	}
	return out
}

// maxDigits is the most digits in the integer part of any number written in s (1 when there is
// none): the quantity GSM-Hard changes and direct answering is sensitive to.
func maxDigits(s string) int {
	best := 1
	for _, m := range numberRE.FindAllString(s, -1) {
		intPart, _, _ := strings.Cut(m, ".")
		d := len(strings.ReplaceAll(intPart, ",", ""))
		if d > best {
			best = d
		}
	}
	return best
}
