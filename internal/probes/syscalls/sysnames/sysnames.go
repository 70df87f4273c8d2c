// Package sysnames names the syscalls of the build's architecture (x86_64 or
// arm64: table_<goarch>.go) and checks the set the syscalls probe tracks. It
// has no BPF in it, so configuration can validate names.
package sysnames

//go:generate go run gen_table.go

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxNr bounds syscall numbers; the probe's per-number maps have this size.
const MaxNr = 512

// MaxTracked bounds the tracked set: each name is a metric label value.
const MaxTracked = 64

// Default is the tracked set when none is configured: calls that fail or
// block meaningfully and are rare enough to count cheaply (docs/benchmarks.md
// has the cost of tracking hot ones such as read and write).
var Default = []string{"openat", "execve", "connect", "accept4", "clone", "clone3", "unlinkat", "mkdirat", "renameat2", "bind", "listen", "ptrace", "kill", "mount"}

var numbers = func() map[string]uint32 {
	m := make(map[string]uint32, len(names))
	for nr, name := range names {
		if name != "" {
			m[name] = uint32(nr)
		}
	}
	return m
}()

// Number returns the number of a syscall name.
func Number(name string) (uint32, bool) {
	nr, ok := numbers[name]
	return nr, ok
}

// Name returns the name of a syscall number; numbers this table does not
// know (a newer kernel) read "syscall_<nr>".
func Name(nr uint32) string {
	if int(nr) < len(names) && names[nr] != "" {
		return names[nr]
	}
	return "syscall_" + strconv.FormatUint(uint64(nr), 10)
}

// Numbers resolves a set of names, refusing unknown names and, when
// tracked is set, calls the tracker cannot follow.
func Numbers(list []string, tracked bool) ([]uint32, error) {
	if tracked && len(list) > MaxTracked {
		return nil, fmt.Errorf("%d syscalls to track: at most %d (each is a metric label value)", len(list), MaxTracked)
	}
	out := make([]uint32, 0, len(list))
	for _, name := range list {
		name = strings.TrimSpace(name)
		nr, ok := Number(name)
		switch {
		case !ok:
			return nil, fmt.Errorf("unknown syscall %q: want a syscall name of this architecture such as openat, read or connect", name)
		case tracked && (name == "exit" || name == "exit_group"):
			return nil, fmt.Errorf("syscall %q never returns, so it cannot be tracked; the process probe counts exits", name)
		}
		out = append(out, nr)
	}
	return out, nil
}
