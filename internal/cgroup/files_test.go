package cgroup

import "testing"

func TestStatValue(t *testing.T) {
	v1 := "cache 4096\ninactive_file 8192\ntotal_cache 12288\ntotal_inactive_file 16384\n"
	if v, ok := StatValue([]byte(v1), "total_inactive_file"); !ok || v != 16384 {
		t.Errorf("total_inactive_file = %d, %v; want 16384", v, ok)
	}
	if v, ok := StatValue([]byte(v1), "inactive_file"); !ok || v != 8192 {
		t.Errorf("inactive_file = %d, %v; want 8192 (not a prefix match)", v, ok)
	}
	if _, ok := StatValue([]byte("anon 1\ninactive_file x\n"), "inactive_file"); ok {
		t.Error("a bad value was accepted")
	}
	if _, ok := StatValue([]byte("anon 1"), "file"); ok {
		t.Error("a missing key was found")
	}
	cpu := "usage_usec 1146639\nuser_usec 776126\nsystem_usec 370512\nnice_usec 0\n"
	if v, ok := StatValue([]byte(cpu), "usage_usec"); !ok || v != 1146639 {
		t.Errorf("usage_usec = %d, %v; want 1146639", v, ok)
	}
}

func TestParseCount(t *testing.T) {
	for in, want := range map[string]uint64{"0\n": 0, "67108864\n": 64 << 20, "18446744073709551615": 1<<64 - 1} {
		if v, err := ParseCount([]byte(in)); err != nil || v != want {
			t.Errorf("ParseCount(%q) = %d, %v; want %d", in, v, err, want)
		}
	}
	for _, in := range []string{"", "-1\n", "64M\n", "1 2\n", "18446744073709551616"} {
		if v, err := ParseCount([]byte(in)); err == nil {
			t.Errorf("ParseCount(%q) = %d, want an error", in, v)
		}
	}
}

func TestParsePressure(t *testing.T) {
	for in, want := range map[string]Pressure{
		"some avg10=33.28 avg60=26.32 avg300=22.68 total=14308214920\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=3210964\n": {Some: 14308214920, Full: 3210964, HasFull: true},
		"some avg10=0.00 avg60=0.00 avg300=0.00 total=5\n":                                                                    {Some: 5}, // cpu.pressure before Linux 5.13
	} {
		if p, ok := ParsePressure([]byte(in)); !ok || p != want {
			t.Errorf("ParsePressure(%q) = %+v, %v; want %+v", in, p, ok, want)
		}
	}
	for _, in := range []string{"", "full avg10=0.00 total=1\n", "some total=x\nfull total=1\n", "some total=-1\n"} {
		if p, ok := ParsePressure([]byte(in)); ok {
			t.Errorf("ParsePressure(%q) = %+v, want not ok", in, p)
		}
	}
}

// FuzzCgroupFiles feeds arbitrary file contents to the parsers: they must
// never panic.
func FuzzCgroupFiles(f *testing.F) {
	for _, s := range []string{"max\n", "67108864\n", "anon 1\ninactive_file 2\n", "usage_usec 5\nthrottled_usec 2", "some avg10=0.00 avg60=0.00 avg300=0.00 total=1\nfull avg10=0.00 avg60=0.00 avg300=0.00 total=0\n", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		_, _ = ParseCount([]byte(s))
		_, _ = StatValue([]byte(s), "inactive_file")
		_, _ = StatValue([]byte(s), "throttled_usec")
		_, _ = ParsePressure([]byte(s))
	})
}
