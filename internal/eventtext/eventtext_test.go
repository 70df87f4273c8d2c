package eventtext

import (
	"encoding/json"
	"testing"

	"google.golang.org/protobuf/types/known/structpb"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/humanize"
)

func TestCommandLine(t *testing.T) {
	for _, c := range []struct {
		x    *pb.ExecDetail
		want string
	}{
		{&pb.ExecDetail{Filename: "/bin/true"}, "/bin/true"},
		{&pb.ExecDetail{Filename: "/bin/true", Path: "/usr/bin/true", Args: []string{"true", "-x", "a=b/c"}}, "/usr/bin/true -x a=b/c"},
		{&pb.ExecDetail{Filename: "sh", Path: "/usr/bin/dash", Args: []string{"sh", "-c", "echo hi", ""}, ArgsTruncated: true, ParentPath: "/usr/bin/bash"},
			`/usr/bin/dash -c "echo hi" "" ...  parent=/usr/bin/bash`},
		// A path that lost its leading components says so.
		{&pb.ExecDetail{Path: "/deep/bin/x", PathTruncated: true, ParentPath: "/p q/sh", ParentPathTruncated: true}, `.../deep/bin/x  parent=..."/p q/sh"`},
		// A workload's escape sequences and line breaks never reach the terminal raw.
		{&pb.ExecDetail{Path: "/x", Args: []string{"x", "\x1b[31mred", "\xff", "ünï", "a\nb"}}, `/x "\x1b[31mred" "\xff" "ünï" "a\nb"`},
		{&pb.ExecDetail{Filename: "./\x1b[2J", ParentPath: "/tmp/\x1b]0;t\a"}, `"./\x1b[2J"  parent="/tmp/\x1b]0;t\a"`},
	} {
		if got := CommandLine(c.x); got != c.want {
			t.Errorf("CommandLine(%v) = %q, want %q", c.x, got, c.want)
		}
	}
}

// policyEvent is a policy match as the API carries it: JSON attributes.
func policyEvent(t *testing.T, m events.PolicyMatch) *pb.Event {
	raw, err := json.Marshal(map[string]any{"policy": m})
	if err != nil {
		t.Fatal(err)
	}
	var fields map[string]any
	if err := json.Unmarshal(raw, &fields); err != nil {
		t.Fatal(err)
	}
	s, err := structpb.NewStruct(fields)
	if err != nil {
		t.Fatal(err)
	}
	return &pb.Event{Kind: events.KindPolicy, Attributes: s}
}

func TestDetail(t *testing.T) {
	for _, c := range []struct {
		e    *pb.Event
		want string
	}{
		{&pb.Event{Detail: &pb.Event_Exit{Exit: &pb.ExitDetail{Code: 3}}}, "code 3"},
		{&pb.Event{Detail: &pb.Event_Exit{Exit: &pb.ExitDetail{Signal: 9}}}, "signal 9"},
		{policyEvent(t, events.PolicyMatch{Policy: "no-shells", Rule: 1, Action: "kill", Mode: "enforce", Operation: "exec",
			Filename: "/bin/sh", Path: "/usr/bin/dash", Args: []string{"sh", "-c", "id\x1b[2J"}, ArgsTruncated: true}),
			`policy=no-shells rule=1 action=kill mode=enforce exec /usr/bin/dash -c "id\x1b[2J" ...`},
		{policyEvent(t, events.PolicyMatch{Policy: "imds", Action: "deny", Mode: "monitor", Operation: "connect", Address: "::1", Port: 80, Protocol: "tcp"}),
			"policy=imds rule=0 action=deny mode=monitor connect tcp [::1]:80"},
		{policyEvent(t, events.PolicyMatch{Policy: "onion", Action: "audit", Mode: "enforce", Operation: "dns", Name: "x.onion\n"}),
			`policy=onion rule=0 action=audit mode=enforce dns "x.onion\n"`},
		{&pb.Event{Attributes: mustStruct(t, map[string]any{"dns": map[string]any{"name": "\x1b[2Jevil", "rcode": "NXDOMAIN"}})},
			`name=\x1b[2Jevil rcode=NXDOMAIN`},
	} {
		got := Detail(c.e)
		if got != c.want {
			t.Errorf("Detail(%v) = %q, want %q", c.e, got, c.want)
		}
		if humanize.Safe(got) != got {
			t.Errorf("Detail(%v) = %q is not safe on a terminal", c.e, got)
		}
	}
}

func mustStruct(t *testing.T, m map[string]any) *structpb.Struct {
	s, err := structpb.NewStruct(m)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func FuzzCommandLineIsSafe(f *testing.F) {
	f.Add("/bin/sh", "-c", "\x1b[2J", "/usr/bin/bash")
	f.Fuzz(func(t *testing.T, path, a1, a2, parent string) {
		got := CommandLine(&pb.ExecDetail{Path: path, Args: []string{"x", a1, a2}, ParentPath: parent})
		if humanize.Safe(got) != got {
			t.Fatalf("CommandLine = %q is not safe on a terminal", got)
		}
	})
}
