package cli

import (
	"bytes"
	"strings"
	"testing"

	"google.golang.org/protobuf/proto"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

func run(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = Execute(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestBadInputExitsNonZeroWithOneLine(t *testing.T) {
	tests := [][]string{
		{"agent", "--metrics-addr", "not-an-address"},
		{"agent", "--no-such-flag"},
		{"agent", "--probes", "nope"},
		{"agent", "--config", "/nonexistent/orb8.yaml"},
		{"agent", "extra-arg"},
		{"version", "extra-arg"},
		{"no-such-command"},
		{"report", "compliance", "--framework", "hipaa"},
		{"report", "compliance", "--since", "yesterday"},
		{"report", "compliance", "--segment-label", "pci"},
		{"report", "compliance", "--internal-cidr", "10.0.0.0"},
		{"report", "compliance", "-o", "table"},
	}
	for _, args := range tests {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			code, stdout, stderr := run(args...)
			if code == 0 {
				t.Fatalf("exit 0")
			}
			if stdout != "" {
				t.Errorf("stdout: %q", stdout)
			}
			if strings.Count(stderr, "\n") != 1 || !strings.HasPrefix(stderr, "orb8: ") {
				t.Errorf("stderr is not one line starting with 'orb8: ': %q", stderr)
			}
		})
	}
}

// orb8 top --hub asks the hub, not the probes of its own process.
func TestTopAsksTheHub(t *testing.T) {
	code, _, stderr := run("top", "--hub", "unix:///nonexistent/orb8-hub.sock", "--timeout", "200ms")
	if code == 0 || !strings.Contains(stderr, "/nonexistent/orb8-hub.sock") {
		t.Fatalf("top --hub with no hub: exit %d, stderr %q; want the hub unreachable", code, stderr)
	}
}

func TestVersion(t *testing.T) {
	code, stdout, _ := run("version")
	if code != 0 || strings.TrimSpace(stdout) == "" {
		t.Fatalf("version: exit %d, %q", code, stdout)
	}
}

func TestHelpListsProbes(t *testing.T) {
	code, stdout, _ := run("agent", "--help")
	if code != 0 || !strings.Contains(stdout, "process") || !strings.Contains(stdout, "--metrics-addr") {
		t.Fatalf("agent --help: exit %d\n%s", code, stdout)
	}
}

// orb8 trace offers the kinds some probe (or the agent) publishes, and only
// those: a kind no probe publishes is refused with the list.
func TestTraceOffersWhatProbesPublish(t *testing.T) {
	code, stdout, _ := run("trace", "--help")
	if want := "Kinds: exec, exit, syscall, cuda, dns, http, tcp, oom, policy, anomaly\n"; code != 0 || !strings.Contains(stdout, want) {
		t.Fatalf("trace --help: exit %d, want %q in\n%s", code, want, stdout)
	}
	code, _, stderr := run("trace", "hip")
	if code == 0 || !strings.Contains(stderr, `unknown event kind "hip": want exec, exit, syscall, cuda, dns, http, tcp, oom, policy, anomaly or all`) {
		t.Errorf("trace hip: exit %d, %q", code, stderr)
	}
}

// TestTableEscapesWorkloadNames: a pod named with terminal escapes cannot
// reach the terminal through a table cell.
func TestTableEscapesWorkloadNames(t *testing.T) {
	var out bytes.Buffer
	p := newPrinter(&out, "table", []string{"POD"}, func(proto.Message) []string { return []string{"evil\x1b[2J\x07pod"} })
	if err := p.print(&pb.Workload{}); err != nil {
		t.Fatal(err)
	}
	p.flush()
	if got := out.String(); strings.ContainsAny(got, "\x1b\x07") || !strings.Contains(got, `evil\x1b[2J\x07pod`) {
		t.Errorf("table: %q", got)
	}
}

// A request's path, as sent by whoever sent it, is escaped in a table.
func TestRequestRowEscapesThePath(t *testing.T) {
	var out bytes.Buffer
	p := newPrinter(&out, "table", []string{"PATH"}, func(m proto.Message) []string { return requestRow(m)[7:8] })
	if err := p.print(&pb.Request{Path: "/a\x1b]0;owned\x07", PathTruncated: true}); err != nil {
		t.Fatal(err)
	}
	p.flush()
	if got := out.String(); got != "PATH\n/a\\x1b]0;owned\\x07...\n" {
		t.Errorf("table: %q", got)
	}
}
