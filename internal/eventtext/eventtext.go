// Package eventtext writes a streamed event as one line of terminal text,
// the same for `orb8 trace` and the TUI: an exec as its command line, an
// exit as its code or signal, other kinds as their attributes.
package eventtext

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/humanize"
)

// Detail is the kind-specific part of an event.
func Detail(e *pb.Event) string {
	switch {
	case e.GetExec() != nil:
		return CommandLine(e.GetExec())
	case e.GetExit() != nil:
		x := e.GetExit()
		if x.GetSignal() != 0 {
			return fmt.Sprintf("signal %d", x.GetSignal())
		}
		return fmt.Sprintf("code %d", x.GetCode())
	case e.GetAttributes() != nil:
		return attributes(e.GetAttributes().AsMap())
	}
	return ""
}

// CommandLine is an exec as a command line: the executable (resolved, else
// as given), then its arguments after argv[0], each a humanize.Word, and
// "..." where some were left out.
func CommandLine(x *pb.ExecDetail) string {
	line := cmp.Or(x.GetPath(), x.GetFilename())
	if args := x.GetArgs(); len(args) > 1 {
		for _, a := range args[1:] {
			line += " " + humanize.Word(a)
		}
	}
	if x.GetArgsTruncated() {
		line += " ..."
	}
	return line
}

// attributes prints a kind's payload as sorted key=value pairs; the
// payload struct itself (e.g. "dns") is unwrapped one level.
func attributes(attrs map[string]any) string {
	var parts []string
	for k, v := range attrs {
		if inner, ok := v.(map[string]any); ok {
			for ik, iv := range inner {
				parts = append(parts, fmt.Sprintf("%s=%v", ik, iv))
			}
			continue
		}
		parts = append(parts, fmt.Sprintf("%s=%v", k, v))
	}
	slices.Sort(parts)
	return strings.Join(parts, " ")
}
