package probe

import (
	"bytes"
	"testing"

	"github.com/orb8/orb8/internal/events"
)

func TestArgv(t *testing.T) {
	for _, c := range []struct {
		in        string
		truncated bool
		want      []string
		wantCut   bool
	}{
		{"", false, nil, false},
		{"a\x00", false, []string{"a"}, false},
		{"a\x00\x00b c\x00", false, []string{"a", "", "b c"}, false},
		{"a\x00bc", true, []string{"a", "bc"}, true},
		{"a\x00bc", false, []string{"a", "bc"}, true}, // no NUL: cut
		{"1\x002\x003\x004\x005\x006\x007\x008\x009\x0010\x0011\x0012\x0013\x0014\x0015\x0016\x0017\x00", false,
			[]string{"1", "2", "3", "4", "5", "6", "7", "8", "9", "10", "11", "12", "13", "14", "15", "16"}, true},
	} {
		got, cut := Argv([]byte(c.in), c.truncated)
		if !equal(got, c.want) || cut != c.wantCut {
			t.Errorf("Argv(%q, %v) = %q, %v; want %q, %v", c.in, c.truncated, got, cut, c.want, c.wantCut)
		}
	}
}

func equal(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// FuzzArgv: any bytes split into at most MaxExecArgs arguments, which
// joined back give a prefix of the input, and all of it unless truncated.
func FuzzArgv(f *testing.F) {
	f.Add([]byte("/bin/sh\x00-c\x00echo hi\x00"), false)
	f.Add([]byte("\x00\x00\x00"), true)
	f.Fuzz(func(t *testing.T, b []byte, truncated bool) {
		args, cut := Argv(b, truncated)
		if len(args) > events.MaxExecArgs {
			t.Fatalf("%d arguments", len(args))
		}
		var joined []byte
		for _, a := range args {
			joined = append(append(joined, a...), 0)
		}
		if !cut {
			if !bytes.Equal(joined, b) {
				t.Fatalf("not truncated, but %q joins to %q", b, joined)
			}
			return
		}
		if len(joined) > 0 && !bytes.HasPrefix(b, joined[:len(joined)-1]) {
			t.Fatalf("%q is not a prefix of %q", joined, b)
		}
	})
}
