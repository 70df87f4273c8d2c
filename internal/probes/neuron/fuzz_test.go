package neuron

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func FuzzParseCounter(f *testing.F) {
	for _, s := range []string{"0\n", "1073741824\n", "18446744073709551615", "18446744073709551616", "-1", " 12 ", "", "0x10", "1e6"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseCounter(b)
		if err != nil {
			return
		}
		if got := strconv.FormatUint(v, 10); strings.TrimLeft(strings.TrimSpace(string(b)), "+0") != strings.TrimLeft(got, "0") {
			t.Fatalf("parseCounter(%q) = %d", b, v)
		}
	})
}

func FuzzParseVersion(f *testing.F) {
	for _, s := range []string{"2.26.5.0\n", "2.31.0.0", "2.31", "2", "a.b", "2.-1", "99999999.1", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		v, err := parseVersion(b)
		if err != nil {
			return
		}
		if v.major < 0 || v.minor < 0 || !v.atLeast(v.major, v.minor) {
			t.Fatalf("parseVersion(%q) = %+v", b, v)
		}
	})
}

func FuzzParseLabel(f *testing.F) {
	for _, s := range []string{"Trainium2\n", "5a0c2f1e8d000001", "\x1b[31mred", "\xff", strings.Repeat("x", 65)} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseLabel(b)
		if err != nil {
			return
		}
		if len(s) > 64 || strings.ContainsAny(s, "\x00\x1b\n") {
			t.Fatalf("parseLabel(%q) = %q", b, s)
		}
	})
}

func FuzzTrailingIndex(f *testing.F) {
	for _, s := range []string{"3", "neuron3", "neuron_device_12", "x", "", "9999999", "neuron-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		n, ok := trailingIndex(id)
		if ok && (n < 0 || !strings.HasSuffix(id, strconv.Itoa(n))) {
			t.Fatalf("trailingIndex(%q) = %d", id, n)
		}
	})
}

// A device tree of arbitrary names and contents: discovery never fails
// other than with an error, and every counter it reads parses or errs.
func FuzzDiscover(f *testing.F) {
	f.Add("neuron0/neuron_core0/stats/memory_usage/device_mem/tensors/total", "123\n", true)
	f.Add("neuron0/x/neuron_core7/device_mem/a/total", "-5", false)
	f.Add("neuron12/neuron_core/nc_time_in_use/total", "\xff\xfe", false)
	f.Fuzz(func(t *testing.T, rel, content string, documented bool) {
		rel = filepath.Clean(rel)
		if filepath.IsAbs(rel) || strings.HasPrefix(rel, "..") || len(rel) > 200 {
			return
		}
		sys := t.TempDir()
		path := filepath.Join(sys, deviceRoot, rel)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			return
		}
		if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
			return
		}
		v := driverVersion{2, 31}
		if documented {
			v = driverVersion{2, 26}
		}
		devices, err := discover(sys, v, true)
		if err != nil {
			return
		}
		for _, d := range devices {
			for _, c := range d.cores {
				for _, f := range append(c.memFiles, c.timeFile) {
					if f != "" {
						readCounter(f)
					}
				}
			}
		}
	})
}
