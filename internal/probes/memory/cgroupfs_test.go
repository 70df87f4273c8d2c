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

func TestStatValue(t *testing.T) {
	v1 := "cache 4096\ninactive_file 8192\ntotal_cache 12288\ntotal_inactive_file 16384\n"
	if v, ok := statValue([]byte(v1), "total_inactive_file"); !ok || v != 16384 {
		t.Errorf("total_inactive_file = %d, %v; want 16384", v, ok)
	}
	if v, ok := statValue([]byte(v1), "inactive_file"); !ok || v != 8192 {
		t.Errorf("inactive_file = %d, %v; want 8192 (not a prefix match)", v, ok)
	}
	if _, ok := statValue([]byte("anon 1\ninactive_file x\n"), "inactive_file"); ok {
		t.Error("a bad value was accepted")
	}
	if _, ok := statValue([]byte("anon 1"), "file"); ok {
		t.Error("a missing key was found")
	}
}

// FuzzCgroupFiles feeds arbitrary file contents to the parsers: they must
// never panic, and a parsed limit must be a real one.
func FuzzCgroupFiles(f *testing.F) {
	for _, s := range []string{"max\n", "67108864\n", "9223372036854771712\n", "anon 1\ninactive_file 2\n",
		""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if limit, limited, err := parseLimit([]byte(s)); err == nil && limited && limit >= unlimitedFrom {
			t.Fatalf("parseLimit(%q) = limited at %d", s, limit)
		}
		_, _ = parseBytes([]byte(s))
		_, _ = statValue([]byte(s), "inactive_file")
	})
}
