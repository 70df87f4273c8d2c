package probe

import (
	"bytes"

	"github.com/orb8/orb8/internal/events"
)

// Argv splits argv as the kernel lays it out (each argument ended by a NUL,
// orb8_exec.h's copy) into at most events.MaxExecArgs arguments. An
// argument without its NUL was cut by the copy's bound: kept, and the
// result marked truncated, as it is when arguments are left out.
func Argv(b []byte, truncated bool) ([]string, bool) {
	var args []string
	for len(b) > 0 {
		if len(args) == events.MaxExecArgs {
			return args, true
		}
		arg, rest, found := bytes.Cut(b, []byte{0})
		args = append(args, string(arg))
		truncated = truncated || !found
		b = rest
	}
	return args, truncated
}
