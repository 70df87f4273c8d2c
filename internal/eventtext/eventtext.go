// Package eventtext writes a streamed event as one line of terminal text,
// the same for `orb8 trace` and the TUI: an exec as its command line, an
// exit as its code or signal, a policy match as what matched what, other
// kinds as their attributes. The text is safe on a terminal: what a
// workload chose (arguments, paths, names) is a humanize.Word or escaped
// by humanize.Safe.
package eventtext

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/humanize"
)

// Detail is the kind-specific part of an event, safe on a terminal.
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
		attrs := e.GetAttributes().AsMap()
		if m, ok := policyMatch(attrs); ok {
			return Policy(m)
		}
		if l, ok := payload[events.CUDALaunch](attrs, events.KindCUDA); ok {
			return CUDALaunch(l)
		}
		return humanize.Safe(attributes(attrs))
	}
	return ""
}

// CommandLine is an exec as a command line, then its parent's executable:
// "/usr/bin/curl -s "a b" ...  parent=/usr/bin/bash".
func CommandLine(x *pb.ExecDetail) string {
	line := commandLine(x.GetFilename(), x.GetPath(), x.GetPathTruncated(), x.GetArgs(), x.GetArgsTruncated())
	if x.GetParentPath() != "" {
		line += "  parent=" + path(x.GetParentPath(), x.GetParentPathTruncated())
	}
	return line
}

// commandLine is the executable (resolved, else as given), then the
// arguments after argv[0], each a humanize.Word, and "..." where some were
// left out.
func commandLine(filename, resolved string, resolvedTruncated bool, args []string, argsTruncated bool) string {
	line := humanize.Word(filename)
	if resolved != "" {
		line = path(resolved, resolvedTruncated)
	}
	for i := 1; i < len(args); i++ {
		line += " " + humanize.Word(args[i])
	}
	if argsTruncated {
		line += " ..."
	}
	return line
}

// path is a resolved path as a word; one that lost its leading components
// starts with "...".
func path(p string, truncated bool) string {
	if truncated {
		return "..." + humanize.Word(p)
	}
	return humanize.Word(p)
}

// Policy is a policy match: which rule of which policy, what it did (action
// and mode) and to what: "policy=no-shells rule=0 action=kill mode=enforce
// exec /usr/bin/touch MARKER".
func Policy(m events.PolicyMatch) string {
	var target string
	switch m.Operation {
	case "exec":
		target = commandLine(m.Filename, m.Path, false, m.Args, m.ArgsTruncated)
	case "connect":
		target = humanize.Safe(m.Protocol + " " + humanize.HostPort(m.Address, uint32(m.Port)))
	case "dns":
		target = humanize.Word(m.Name)
	}
	return fmt.Sprintf("policy=%s rule=%d action=%s mode=%s %s %s",
		humanize.Word(m.Policy), m.Rule, humanize.Word(m.Action), humanize.Word(m.Mode), humanize.Word(m.Operation), target)
}

// policyMatch reads a policy event's payload back into its type.
func policyMatch(attrs map[string]any) (events.PolicyMatch, bool) {
	return payload[events.PolicyMatch](attrs, events.KindPolicy)
}

// payload reads the payload of a kind back into its type.
func payload[T any](attrs map[string]any, kind string) (T, bool) {
	var m T
	v, ok := attrs[kind]
	if !ok {
		return m, false
	}
	raw, err := json.Marshal(v)
	return m, err == nil && json.Unmarshal(raw, &m) == nil
}

// CUDALaunch is a kernel launch: the kernel's name (escaped), then how it
// was launched: "demo::scale(float*, int)  grid=4x2x1 block=128x1x1
// shared=64 stream=0x10 api=runtime".
func CUDALaunch(l events.CUDALaunch) string {
	return fmt.Sprintf("%s  grid=%dx%dx%d block=%dx%dx%d shared=%d stream=%#x api=%s",
		humanize.Safe(l.Kernel), l.Grid[0], l.Grid[1], l.Grid[2], l.Block[0], l.Block[1], l.Block[2],
		l.SharedBytes, l.Stream, humanize.Word(l.API))
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
