package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

// tmuxSession drives a real terminal: orb8 top runs in a private tmux server.
type tmuxSession struct {
	t      *testing.T
	socket string
}

func (s *tmuxSession) run(args ...string) string {
	s.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-L", s.socket}, args...)...).CombinedOutput()
	if err != nil {
		s.t.Fatalf("tmux %v: %v: %s", args, err, out)
	}
	return string(out)
}

func (s *tmuxSession) screen() string { return s.run("capture-pane", "-p", "-t", "top") }

func (s *tmuxSession) waitFor(what string, cond func(screen string) bool) string {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		screen := s.screen()
		if cond(screen) {
			return screen
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("orb8 top never showed %s; screen:\n%s", what, screen)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestTopUnderTmux(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed (apt-get install tmux)")
	}
	addr, _ := startAgent(t)
	bin := buildOrb8(t)
	cg := testutil.NewCgroup(t)
	sleeper := cg.Command(t, "/bin/sleep", "60")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })
	// The row shows the end of the cgroup path; its unique tail finds it.
	tail := cg.Path[len(cg.Path)-18:]

	exportDir := t.TempDir()
	s := &tmuxSession{t: t, socket: fmt.Sprintf("orb8-test-%d", os.Getpid())}
	s.run("new-session", "-d", "-s", "top", "-x", "80", "-y", "24",
		bin, "top", "--agent", addr, "--refresh", "200ms", "--export-dir", exportDir)
	t.Cleanup(func() { exec.Command("tmux", "-L", s.socket, "kill-server").Run() })

	s.waitFor("the test cgroup's row", func(sc string) bool { return strings.Contains(sc, tail) })

	// Each key waits for the screen to show it took the last: on a loaded
	// machine keys can arrive while the UI is still drawing.
	s.run("send-keys", "-t", "top", "/")
	s.waitFor("the filter prompt", func(sc string) bool { return strings.HasPrefix(lastLine(sc), "/") })
	s.run("send-keys", "-t", "top", "-l", tail)
	s.waitFor("the typed filter", func(sc string) bool { return strings.Contains(lastLine(sc), tail) })
	s.run("send-keys", "-t", "top", "Enter")
	screen := s.waitFor("only the test cgroup after filtering", func(sc string) bool { return strings.Contains(sc, "1/1 | filter: ") })
	// The footer names the filter too, as the view matches it: in lower case.
	var rows, footers int
	for _, line := range strings.Split(screen, "\n") {
		switch {
		case strings.Contains(line, "| filter: "):
			footers += strings.Count(line, strings.ToLower(tail))
		case strings.Contains(line, tail):
			rows++
		}
	}
	if rows != 1 || footers != 1 {
		t.Fatalf("filtered view shows the cgroup in %d rows and the filter %d times in the footer:\n%s", rows, footers, screen)
	}

	s.run("send-keys", "-t", "top", "Enter")
	s.waitFor("the drill-down with the sleep process", func(sc string) bool {
		return strings.Contains(sc, "Processes (1)") && strings.Contains(sc, fmt.Sprintf("%7d sleep", sleeper.Process.Pid))
	})

	s.run("send-keys", "-t", "top", "e")
	s.waitFor("where the export went", func(sc string) bool { return strings.Contains(sc, "exported ") })
	files, _ := filepath.Glob(filepath.Join(exportDir, "orb8-detail-*.json"))
	if len(files) != 1 {
		t.Fatalf("export files: %v", files)
	}
	data, err := os.ReadFile(files[0])
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(data), `"cgroup": "`+cg.Path+`"`) || !strings.Contains(string(data), `"comm": "sleep"`) {
		t.Errorf("export lacks the workload or its process:\n%s", data)
	}

	s.run("send-keys", "-t", "top", "q")
	testutil.Eventually(t, 5*time.Second, func() bool {
		return exec.Command("tmux", "-L", s.socket, "has-session", "-t", "top").Run() != nil
	}, "orb8 top still runs after q")
}

// lastLine is the screen's last non-empty line: the footer.
func lastLine(screen string) string {
	lines := strings.Split(strings.TrimRight(screen, "\n "), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}
