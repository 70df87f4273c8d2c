package humanize

import (
	"strings"
	"testing"
)

func TestSafe(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"nginx", "nginx"},
		{"/usr/bin/python3", "/usr/bin/python3"},
		{"caf\u00e9 \u65e5\u672c", "caf\u00e9 \u65e5\u672c"},
		{"\x1b[2J\x1b[Hevil", `\x1b[2J\x1b[Hevil`},
		{"line\nbreak\ttab\rcr\a", `line\x0abreak\x09tab\x0dcr\x07`},
		{"c1\u009bcontrol", `c1\u009bcontrol`},
		{"bidi\u202egnp.exe", `bidi\u202egnp.exe`},
		{"bad\xffutf8", `bad\xffutf8`},
		{"del\x7f", `del\x7f`},
	} {
		if got := Safe(tc.in); got != tc.want {
			t.Errorf("Safe(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzSafe(f *testing.F) {
	for _, s := range []string{"", "a", "\x1b[31m", "\u202e", "\xff\xfe", "é"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := Safe(s)
		for _, r := range out {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\u202e' || r == '\ufffd' && !strings.Contains(s, "\ufffd") {
				t.Fatalf("Safe(%q) = %q keeps %U", s, out, r)
			}
		}
		if !needsEscape(s) && out != s {
			t.Fatalf("Safe(%q) changed a plain string", s)
		}
	})
}

func BenchmarkSafePlain(b *testing.B) {
	s := "/kubepods/besteffort/pod0f7b9a4e-2a6d-4c1b-9d3e-8f6a5b4c3d2e/nginx"
	b.ReportAllocs()
	for b.Loop() {
		_ = Safe(s)
	}
}
