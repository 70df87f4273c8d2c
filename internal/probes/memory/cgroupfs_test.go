package memory

import "testing"

func TestParseLimit(t *testing.T) {
	for _, c := range []struct {
		in      string
		limit   uint64
		limited bool
		bad     bool
	}{
		{"max\n", 0, false, false},
		{"67108864\n", 64 << 20, true, false},
		{"9223372036854771712\n", 0, false, false}, // cgroup v1 "no limit"
		{"0\n", 0, true, false},
		{"", 0, false, true},
		{"-1\n", 0, false, true},
		{"64M\n", 0, false, true},
	} {
		limit, limited, err := parseLimit([]byte(c.in))
		if (err != nil) != c.bad || limited != c.limited || (limited && limit != c.limit) {
			t.Errorf("parseLimit(%q) = %d, %v, %v; want %d, %v, error %v", c.in, limit, limited, err, c.limit, c.limited, c.bad)
		}
	}
}

// FuzzParseLimit feeds arbitrary file contents to the limit parser: it
// must never panic, and a parsed limit must be a real one.
func FuzzParseLimit(f *testing.F) {
	for _, s := range []string{"max\n", "67108864\n", "9223372036854771712\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if limit, limited, err := parseLimit([]byte(s)); err == nil && limited && limit >= unlimitedFrom {
			t.Fatalf("parseLimit(%q) = limited at %d", s, limit)
		}
	})
}
