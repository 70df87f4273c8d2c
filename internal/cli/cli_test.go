package cli

import (
	"bytes"
	"strings"
	"testing"
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

// orb8 trace offers the kinds some probe publishes, and only those: a kind
// no probe publishes (cuda, until the accelerator probes publish one) is
// refused with the list.
func TestTraceOffersWhatProbesPublish(t *testing.T) {
	code, stdout, _ := run("trace", "--help")
	if want := "Kinds: exec, exit, syscall, dns, tcp, oom\n"; code != 0 || !strings.Contains(stdout, want) {
		t.Fatalf("trace --help: exit %d, want %q in\n%s", code, want, stdout)
	}
	code, _, stderr := run("trace", "cuda")
	if code == 0 || !strings.Contains(stderr, `unknown event kind "cuda": want exec, exit, syscall, dns, tcp, oom or all`) {
		t.Errorf("trace cuda: exit %d, %q", code, stderr)
	}
}
