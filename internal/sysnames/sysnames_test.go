package sysnames

import (
	"strings"
	"testing"
)

func TestNumbersAndNames(t *testing.T) {
	for name, want := range map[string]uint32{"read": 0, "openat": 257, "execve": 59, "clone3": 435, "accept4": 288} {
		nr, ok := Number(name)
		if !ok || nr != want || Name(nr) != name {
			t.Errorf("%s: number %d (%v), want %d; back to %q", name, nr, ok, want, Name(nr))
		}
	}
	if got := Name(511); got != "syscall_511" {
		t.Errorf("unknown number named %q", got)
	}
	if got := Name(1 << 31); got != "syscall_2147483648" {
		t.Errorf("huge number named %q", got)
	}
	if len(names) > MaxNr {
		t.Errorf("table has %d numbers, more than the kernel maps' %d", len(names), MaxNr)
	}
}

func TestNumbersRefusesBadSets(t *testing.T) {
	for _, tc := range []struct {
		list []string
		want string
	}{
		{[]string{"openat", "opne"}, `unknown syscall "opne"`},
		{[]string{""}, `unknown syscall ""`},
	} {
		_, err := Numbers(tc.list)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Numbers(%q) = %v, want an error with %q", tc.list, err, tc.want)
		}
	}
	if nrs, err := Numbers([]string{" exit"}); err != nil || nrs[0] != 60 {
		t.Errorf("exit may be streamed: %v %v", nrs, err)
	}
}

func FuzzNumbers(f *testing.F) {
	for _, s := range []string{"openat", " read ", "exit", "syscall_5", "", "\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		nrs, err := Numbers([]string{s})
		if err != nil {
			return
		}
		if len(nrs) != 1 || Name(nrs[0]) != strings.TrimSpace(s) || nrs[0] >= MaxNr {
			t.Fatalf("%q resolved to %v named %q", s, nrs, Name(nrs[0]))
		}
	})
}
