package eventtext

import (
	"testing"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

func TestCommandLine(t *testing.T) {
	for _, c := range []struct {
		x    *pb.ExecDetail
		want string
	}{
		{&pb.ExecDetail{Filename: "/bin/true"}, "/bin/true"},
		{&pb.ExecDetail{Filename: "/bin/true", Path: "/usr/bin/true", Args: []string{"true", "-x", "a=b/c"}}, "/usr/bin/true -x a=b/c"},
		{&pb.ExecDetail{Filename: "sh", Path: "/usr/bin/dash", Args: []string{"sh", "-c", "echo hi", ""}, ArgsTruncated: true},
			`/usr/bin/dash -c "echo hi" "" ...`},
		// A workload's escape sequence never reaches the terminal raw.
		{&pb.ExecDetail{Path: "/x", Args: []string{"x", "\x1b[31mred", "\xff", "ünï"}}, `/x "\x1b[31mred" "\xff" "ünï"`},
	} {
		if got := CommandLine(c.x); got != c.want {
			t.Errorf("CommandLine(%v) = %q, want %q", c.x, got, c.want)
		}
	}
}
