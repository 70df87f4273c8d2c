package config

import (
	"slices"
	"strings"
	"testing"

	"github.com/orb8/orb8/internal/sysnames"
)

func TestSyscallsFromDefaultsFileAndFlags(t *testing.T) {
	c, err := parse(t)
	if err != nil || !slices.Equal(c.Syscalls, sysnames.Default) {
		t.Fatalf("default syscalls = %v (%v), want %v", c.Syscalls, err, sysnames.Default)
	}
	p := writeFile(t, "syscalls: [read, write]\n")
	if c, err = parse(t, "--config", p); err != nil || !slices.Equal(c.Syscalls, []string{"read", "write"}) {
		t.Fatalf("from file: %v (%v)", c.Syscalls, err)
	}
	if c, err = parse(t, "--config", p, "--syscalls", "openat,connect"); err != nil || !slices.Equal(c.Syscalls, []string{"openat", "connect"}) {
		t.Fatalf("flag over file: %v (%v)", c.Syscalls, err)
	}
	for args, want := range map[string]string{
		"--syscalls=openat,opne": `--syscalls: unknown syscall "opne"`,
		"--syscalls=exit_group":  "never returns",
	} {
		_, err := parse(t, args)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", args, err, want)
		}
	}
}
