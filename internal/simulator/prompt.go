package simulator

import (
	"regexp"
	"strings"
)

// message is one chat message reduced to what the model reads.
type message struct {
	role    string
	content string
}

type taskKind int

const (
	taskDirect  taskKind = iota // asked for the final number
	taskProgram                 // asked for a program
	taskExtract                 // asked to extract the question's stated quantities as JSON
)

func (t taskKind) String() string {
	switch t {
	case taskProgram:
		return "program"
	case taskExtract:
		return "extract"
	}
	return "direct"
}

// factsRE asks for a sub-task of the question rather than its answer; with a mention of JSON it
// makes an extraction request.
var factsRE = regexp.MustCompile(`\bextract|\blist (the|every|each|all)\b`)

// answerStyle is the shape a compliant direct answer takes.
type answerStyle int

const (
	styleBare     answerStyle = iota // "42"
	styleLabel                       // "Answer: 42" with the prompt's label
	styleHashes                      // "... #### 42" (GSM8K demonstrations)
	styleSentence                    // "The answer is 42."
)

// promptInfo is what the simulated model understands about a prompt besides the question.
type promptInfo struct {
	task         taskKind
	instruction  bool        // an explicit output-format line
	example      bool        // a worked example or few-shot demonstration
	style        answerStyle // shape of a compliant direct answer
	label        string      // label for styleLabel, as the prompt wrote it
	noFence      bool        // the program must come without markdown fences
	mentionsJSON bool
	lastUser     string // the final user message (where the question is)
	// mode is the prompting mode a recorded output may answer: ModeDirect (answer only),
	// ModeCoT (step by step), or "" when the prompt asks for neither recognisably.
	mode string
}

// complianceLevel indexes complianceLevels.
func (pi promptInfo) complianceLevel() int {
	switch {
	case pi.instruction && pi.example:
		return 3
	case pi.example:
		return 2
	case pi.instruction:
		return 1
	}
	return 0
}

// The cue patterns run on the lower-cased prompt, without case folding: folding every rune made
// prompt analysis the most expensive step of a request.
var (
	labelTemplateRE = regexp.MustCompile(`^[ \t>*_]*(final answer|answer|result)[*_]*[ \t]*[:=][ \t]*` +
		`(<[^>\n]{0,40}>|\{[^}\n]{0,40}\}|\[[^\]\n]{0,40}\]|\.{3}|…|_{2,}|x|n|\?|number|your answer( here)?)[ \t.]*$`)
	// A label followed by a bracketed placeholder is a format line wherever it stands.
	labelInlineRE  = regexp.MustCompile(`\b(final answer|answer|result)[*_]*[ \t]*:[ \t]*(<[^>\n]{0,40}>|\{[^}\n]{0,40}\}|\[[^\]\n]{0,40}\])`)
	hashTemplateRE = regexp.MustCompile(`####[ \t]*(<|\{|\[|number|answer)`)
	bareRE         = regexp.MustCompile(`\bonly (the|a|one) (final )?(number|numeric|integer|answer|value)|` +
		`just the (final )?(number|answer|value)|nothing (else|but the number)|respond with (only|just)|` +
		`output only|reply with only|no (explanation|words|units)|single number`)
	programFormatRE = regexp.MustCompile("```python|code block|only the (code|program)|no explanation|" +
		`return the (program|function|code)|output the (program|function|code)|def solution\(\):\s*\n`)
	noFenceRE    = regexp.MustCompile(`without (markdown|code fences|fences|backticks)|no (markdown|code fences|fences|backticks)|raw code|plain code`)
	exampleRE    = regexp.MustCompile(`\bexamples?\b|for instance|worked example`)
	inlineQRE    = regexp.MustCompile(`\b(q|question)[ \t]*:`)
	inlineARE    = regexp.MustCompile(`\b(a|answer)[ \t]*:[ \t]*-?\$?[0-9]`)
	demoLabelRE  = regexp.MustCompile(`^[ \t>*_]*(final answer|answer|result)[*_]*[ \t]*:[ \t]*-?\$?[0-9][0-9,.]*[ \t.]*$`)
	demoHashesRE = regexp.MustCompile(`####[ \t]*-?[0-9]`)
	demoBareRE   = regexp.MustCompile(`^\s*-?\$?[0-9][0-9,.]*\s*$`)
	demoSentRE   = regexp.MustCompile(`the (final )?answer is`)
)

// Recorded-mode cues. Step-by-step wins over answer-only when a prompt has both ("think step by
// step, then write the answer"). A prompt that asks to extract fields or for JSON is neither:
// the recordings answer the question, not a sub-task.
var (
	cotRE = regexp.MustCompile(`step[- ]by[- ]step|think (it )?through|reason (it out|carefully|about)|` +
		`show (your|the) (work|reasoning)|explain your reasoning|chain of thought|work it out`)
	directRE = regexp.MustCompile(`answer (only|directly|immediately)|only (the|your) (final )?answer|` +
		`without (any )?(explanation|reasoning|working)|no (explanation|reasoning)|nothing else|just the answer`)
	extractRE = regexp.MustCompile(`\bextract|\bjson\b|\blist (the|every|each|all)\b`)
)

// promptMode works out which recorded mode, if any, the prompt asks for. Without an explicit cue,
// few-shot demonstrations decide: short bare answers mean answer-only, reasoning that ends in
// "the answer is" means step by step.
func promptMode(text string, demo string) string {
	if extractRE.MatchString(text) {
		return ""
	}
	switch {
	case cotRE.MatchString(text):
		return ModeCoT
	case directRE.MatchString(text) || bareRE.MatchString(text):
		return ModeDirect
	}
	if demo == "" {
		return ""
	}
	if demoSentRE.MatchString(demo) && len(demo) > 80 {
		return ModeCoT
	}
	if len(demo) <= 80 && !strings.Contains(strings.TrimSpace(demo), "\n") {
		return ModeDirect
	}
	return ""
}

// programCues are literal phrases that ask for a program. Literal search, not a regexp: an
// unanchored alternation scanned the whole prompt at every position and dominated request cost.
var programCues = []string{
	"def solution", "solution()", "python program", "python function", "python code", "python script",
	"```python", "program-aided", "program aided", "as a program", "write a program", "write the program",
	"write a function", "write the function", "write code", "write a python", "write python",
	"write a short program", "write a short python",
}

func asksForProgram(text string) bool {
	for _, c := range programCues {
		if strings.Contains(text, c) {
			return true
		}
	}
	return false
}

// labelLine returns the submatches of re on the first line of text that mentions an answer
// label. Only such lines go through re: a multi-line anchored regexp over the whole prompt cost
// more than everything else a request does.
func labelLine(re *regexp.Regexp, text string) []string {
	for text != "" {
		var line string
		line, text, _ = strings.Cut(text, "\n")
		if !strings.Contains(line, "answer") && !strings.Contains(line, "result") {
			continue
		}
		if m := re.FindStringSubmatch(line); m != nil {
			return m
		}
	}
	return nil
}

// hasInlineExample reports a worked example written into the prompt: a "Q:" followed later by
// an "A: <number>".
func hasInlineExample(text string) bool {
	loc := inlineQRE.FindStringIndex(text)
	return loc != nil && inlineARE.MatchString(text[loc[1]:])
}

// analyzePrompt works out what the prompt asks for and how explicitly it says so.
func analyzePrompt(msgs []message) promptInfo {
	var all strings.Builder
	lastUser, lastDemo := -1, -1
	for i, m := range msgs {
		all.WriteString(m.content)
		all.WriteByte('\n')
		if m.role == "user" {
			lastUser = i
		}
	}
	for i, m := range msgs {
		if m.role == "assistant" && i < lastUser {
			lastDemo = i
		}
	}
	text := strings.ToLower(all.String())
	pi := promptInfo{mentionsJSON: strings.Contains(text, "json")}
	if lastUser >= 0 {
		pi.lastUser = msgs[lastUser].content
	}
	if asksForProgram(text) {
		pi.task = taskProgram
	} else if pi.mentionsJSON && factsRE.MatchString(text) {
		pi.task = taskExtract
		pi.instruction = strings.Contains(text, "only the json")
		return pi
	}
	pi.example = lastDemo >= 0 || exampleRE.MatchString(text) || hasInlineExample(text)
	if pi.task == taskDirect {
		demo := ""
		if lastDemo >= 0 {
			demo = strings.ToLower(msgs[lastDemo].content)
		}
		pi.mode = promptMode(text, demo)
	}
	if pi.task == taskProgram {
		pi.instruction = programFormatRE.MatchString(text)
		pi.noFence = noFenceRE.MatchString(text)
		return pi
	}
	if m := labelLine(labelTemplateRE, text); m != nil {
		pi.instruction, pi.style, pi.label = true, styleLabel, m[1]
	} else if m := labelInlineRE.FindStringSubmatch(text); m != nil {
		pi.instruction, pi.style, pi.label = true, styleLabel, m[1]
	} else if hashTemplateRE.MatchString(text) {
		pi.instruction, pi.style = true, styleHashes
	} else if bareRE.MatchString(text) {
		pi.instruction, pi.style = true, styleBare
	} else {
		// No explicit instruction: a demonstration, if any, shows the shape to copy.
		demo := text
		if lastDemo >= 0 {
			demo = strings.ToLower(msgs[lastDemo].content)
		}
		if m := labelLine(demoLabelRE, demo); m != nil {
			pi.style, pi.label = styleLabel, m[1]
		} else if demoHashesRE.MatchString(demo) {
			pi.style = styleHashes
		} else if lastDemo >= 0 && demoBareRE.MatchString(demo) {
			pi.style = styleBare
		} else if demoSentRE.MatchString(demo) {
			pi.style = styleSentence
		}
	}
	if pi.label != "" {
		pi.label = strings.ToUpper(pi.label[:1]) + pi.label[1:]
	}
	return pi
}
