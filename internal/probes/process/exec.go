package process

import (
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
	x.Args, x.ArgsTruncated = probe.Argv(e.Args[:min(int(e.ArgsLen), len(e.Args))], e.ArgsTruncated != 0)
	return x
}
