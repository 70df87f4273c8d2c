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
