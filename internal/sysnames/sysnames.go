// Package sysnames names the syscalls of the build's architecture (x86_64 or
// arm64: table_<goarch>.go, generated from golang.org/x/sys/unix). The BPF
// programs' few syscall numbers are in orb8_arch.h.
package sysnames

//go:generate go run gen_table.go

import (
	"fmt"
	"strconv"
	"strings"
)

// MaxNr bounds syscall numbers; the syscalls probe's per-number maps have
// this size.
const MaxNr = 512

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

// Numbers resolves syscall names (surrounding spaces ignored), refusing
// unknown ones.
func Numbers(list []string) ([]uint32, error) {
	out := make([]uint32, 0, len(list))
	for _, name := range list {
		nr, ok := Number(strings.TrimSpace(name))
		if !ok {
			return nil, fmt.Errorf("unknown syscall %q: want a syscall name of this architecture such as openat, read or connect", strings.TrimSpace(name))
		}
		out = append(out, nr)
	}
	return out, nil
}
