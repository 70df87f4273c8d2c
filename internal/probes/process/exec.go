package process

import (
	"bytes"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
)

// decodeExec is what an exec record of the kernel tells.
func decodeExec(e *processExecEvent) *events.Exec {
	x := &events.Exec{
		Filename:            probe.CString(e.Filename[:]),
		Path:                probe.CString(e.Path[:]),
		PathTruncated:       e.PathTruncated != 0,
		ParentPath:          probe.CString(e.ParentPath[:]),
		ParentPathTruncated: e.ParentPathTruncated != 0,
	}
	x.Args, x.ArgsTruncated = splitArgs(e.Args[:min(int(e.ArgsLen), len(e.Args))], e.ArgsTruncated != 0)
	return x
}

// splitArgs splits argv as the kernel lays it out (each argument ended by a
// NUL) into at most events.MaxExecArgs arguments. An argument without its
// NUL was cut by the copy's bound: kept, and the result marked truncated,
// as it is when arguments are left out.
func splitArgs(b []byte, truncated bool) ([]string, bool) {
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
