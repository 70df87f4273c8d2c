package humanize

import "testing"

func TestCells(t *testing.T) {
	v := 1536.0
	for _, tt := range []struct{ got, want string }{
		{Bytes(v), "1.5 KiB"},
		{Count(12345), "12.3k"},
		{Seconds(0.000850), "850µs"},
		{Percent(0.42), "42%"},
		{Optional(&v, Bytes), "1.5 KiB"},
		{Optional(nil, Bytes), "-"},
		{Dash(""), "-"},
		{Dash("web"), "web"},
		{HostPort("10.0.0.2", 443), "10.0.0.2:443"},
		{HostPort("fd00::1", 53), "[fd00::1]:53"},
		{HostPort("", 53), "-"},
		{OneLine("a: b\n\tc  d\n"), "a: b c d"},
	} {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

func TestPrintable(t *testing.T) {
	for in, want := range map[string]string{
		"web-7d9f6-x2x9k":    "web-7d9f6-x2x9k",
		"café:1.2":           "café:1.2",
		"evil\x1b[2Jpod":     `evil\x1b[2Jpod`,
		"a\nb":               `a\x0ab`,
		"bad\xffutf8":        `bad\xffutf8`,
		"/system.slice/a\tb": `/system.slice/a\x09b`,
	} {
		if got := Printable(in); got != want {
			t.Errorf("Printable(%q) = %q, want %q", in, got, want)
		}
	}
}
