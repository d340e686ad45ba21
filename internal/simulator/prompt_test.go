package simulator

import "testing"

func TestAnalyzePrompt(t *testing.T) {
	q := "Tom has 3 apples and buys 4 more. How many apples does he have?"
	user := func(s string) []message { return []message{{"user", s}} }
	tests := []struct {
		name  string
		msgs  []message
		task  taskKind
		level string
		style answerStyle
		label string
	}{
		{"bare question", user(q), taskDirect, "none", styleBare, ""},
		{"answer template", user(q + "\nEnd with a line\nAnswer: <number>"), taskDirect, "instruction", styleLabel, "Answer"},
		{"final answer template", user(q + "\nFinal answer: {number}"), taskDirect, "instruction", styleLabel, "Final answer"},
		{"only the number", []message{{"system", "Respond with only the number."}, {"user", q}}, taskDirect, "instruction", styleBare, ""},
		{"gsm8k hashes", user(q + "\nPut the result after ####  <number>"), taskDirect, "instruction", styleHashes, ""},
		{"few-shot demo copies the shape", []message{{"user", "Q: 2 apples and 2 more?"}, {"assistant", "Answer: 4"}, {"user", q}}, taskDirect, "example", styleLabel, "Answer"},
		{"few-shot demo and instruction", []message{{"system", "Reply with only the number."}, {"user", "1+1?"}, {"assistant", "2"}, {"user", q}}, taskDirect, "both", styleBare, ""},
		{"inline worked example", user("Example:\nQ: 1+1?\nA: 2\n\nQ: " + q), taskDirect, "example", styleBare, ""},
		{"program", user("Write a Python program that solves: " + q), taskProgram, "none", styleBare, ""},
		{"program with fence line", user("Write def solution() for: " + q + "\nReturn the program in a ```python block."), taskProgram, "instruction", styleBare, ""},
		{"program few-shot", []message{{"system", "Write a Python function solution() in a code block."}, {"user", "1+1"}, {"assistant", "```python\ndef solution():\n    return 2\n```"}, {"user", q}}, taskProgram, "both", styleBare, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pi := analyzePrompt(tc.msgs)
			if pi.task != tc.task {
				t.Errorf("task = %v, want %v", pi.task, tc.task)
			}
			if got := complianceLevels[pi.complianceLevel()]; got != tc.level {
				t.Errorf("level = %s, want %s", got, tc.level)
			}
			if tc.task == taskDirect && (pi.style != tc.style || pi.label != tc.label) {
				t.Errorf("style = %v %q, want %v %q", pi.style, pi.label, tc.style, tc.label)
			}
			if pi.lastUser != tc.msgs[len(tc.msgs)-1].content {
				t.Errorf("lastUser = %q", pi.lastUser)
			}
		})
	}
	if pi := analyzePrompt(user("Write def solution() for it, no markdown.")); !pi.noFence {
		t.Errorf("noFence not detected")
	}
}
