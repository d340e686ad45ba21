package simulator

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// normalize folds text to the form questions are indexed by: lower case, every run of characters
// that are neither letters nor digits replaced by one space, trimmed. Prompt templates differ in
// quoting, punctuation and line breaks around the same question, and all of that must not matter.
func normalize(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for i := 0; i < len(s); {
		r, size := rune(s[i]), 1
		if r >= utf8.RuneSelf {
			r, size = utf8.DecodeRuneInString(s[i:])
		}
		i += size
		switch {
		case r < utf8.RuneSelf && ('a' <= r && r <= 'z' || '0' <= r && r <= '9'):
			// fast path for the common case
		case r < utf8.RuneSelf && 'A' <= r && r <= 'Z':
			r += 'a' - 'A'
		case r >= utf8.RuneSelf && (unicode.IsLetter(r) || unicode.IsDigit(r)):
			r = unicode.ToLower(r)
		default:
			space = b.Len() > 0
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// wordStarts returns the byte offsets at which words start in a normalised string.
func wordStarts(norm string) []int {
	if norm == "" {
		return nil
	}
	starts := make([]int, 1, len(norm)/5+1)
	for i := 0; i < len(norm); i++ {
		if norm[i] == ' ' {
			starts = append(starts, i+1)
		}
	}
	return starts
}
