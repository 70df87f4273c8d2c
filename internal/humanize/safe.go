package humanize

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Safe is s as a terminal may print it: control characters (ESC, CR, BEL,
// C1 controls...) and invisible formatting ones (bidirectional overrides,
// zero-width marks) become \x1b-style escapes, invalid UTF-8 bytes too, so a
// workload-provided string (a program name, a DNS name, a pod label) can
// neither rewrite the screen nor hide what it is. Plain strings come back
// unchanged, without allocating.
func Safe(s string) string {
	if !needsEscape(s) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case r < 0x80 && unsafeRune(r):
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			return !plainUTF8(s[i:])
		}
	}
	return false
}

// plainUTF8 reports whether s is valid UTF-8 with no rune to escape.
func plainUTF8(s string) bool {
	for _, r := range s {
		if r == utf8.RuneError || unsafeRune(r) {
			return false
		}
	}
	return true
}

func unsafeRune(r rune) bool { return unicode.IsControl(r) || unicode.Is(unicode.Cf, r) }
