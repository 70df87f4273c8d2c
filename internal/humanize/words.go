package humanize

import (
	"strconv"
	"strings"
)

// PlainWord reports whether s is a word that a shell reads as itself: not
// empty, and only letters, digits and -_./:=@,+%.
func PlainWord(s string) bool {
	return s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=@,+%", r))
	}) < 0
}

// Word is s as one word of a command line: as is when PlainWord, else
// Go-quoted, so control characters and invalid UTF-8 come out as escapes,
// never raw, and spaces cannot split it.
func Word(s string) string {
	if PlainWord(s) {
		return s
	}
	return strconv.Quote(s)
}
