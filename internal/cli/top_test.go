package cli_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/insights/promtest"
	"github.com/orb8/orb8/internal/testutil"
)

// tmuxSession drives a real terminal: orb8 top runs in a private tmux server.
type tmuxSession struct {
	t      *testing.T
	socket string
	wait   time.Duration // how long waitFor waits; 10 s when 0
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
	wait := s.wait
	if wait == 0 {
		wait = 10 * time.Second
	}
	deadline := time.Now().Add(wait)
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

	// l: the workload's live events, on a stream of their own. An exec's
	// arguments reach the terminal escaped: "\x1b[2J" does not clear it.
	s.run("send-keys", "-t", "top", "l")
	s.waitFor("the trace view", func(sc string) bool { return strings.Contains(sc, "events of "+cg.Path[:20]) })
	testutil.Eventually(t, 5*time.Second, func() bool { return openStreams(t, addr) == 2 }, "the trace view opened no stream")
	exe, err := filepath.EvalSymlinks("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	cg.Run(t, "/bin/true", "m1", "\x1b[2J")
	want := exe + ` m1 "\x1b[2J"`
	s.waitFor("the exec with its arguments escaped, and its exit", func(sc string) bool {
		return strings.Contains(sc, "events of ") && strings.Contains(sc, want) && strings.Contains(sc, "code 0")
	})
	s.run("send-keys", "-t", "top", "k") // the cursor was on the newest: the exit
	s.waitFor("the exec in full under the list", func(sc string) bool {
		return strings.Count(sc, want) == 2 && strings.Contains(sc, "parent=")
	})
	s.run("send-keys", "-t", "top", "Escape")
	s.waitFor("the drill-down again", func(sc string) bool { return strings.Contains(sc, "Processes (1)") })
	testutil.Eventually(t, 5*time.Second, func() bool { return openStreams(t, addr) == 1 }, "leaving the trace view left its stream open")

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

// TestTopInsightsFromPrometheus: with --prometheus, the Insights view shows
// what orb8 insights finds in a real Prometheus's history: checkout's
// rollout that added 30% latency (not cart's 2%), and the acceptance
// workload's requests, as recommend computes them.
func TestTopInsightsFromPrometheus(t *testing.T) {
	if _, err := exec.LookPath("tmux"); err != nil {
		t.Skip("tmux not installed (apt-get install tmux)")
	}
	promtest.Require(t)
	h := promtest.NewHistory()
	end := time.Now().Add(-time.Minute).Truncate(time.Second)
	h.Acceptance(end)
	h.Rollouts(end)
	srv, err := promtest.Start(h)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(srv.Stop)
	addr, _ := startAgent(t)
	bin := buildOrb8(t)

	// A week of history through Prometheus: slower than an agent.
	s := &tmuxSession{t: t, socket: fmt.Sprintf("orb8-test-insights-%d", os.Getpid()), wait: time.Minute}
	s.run("new-session", "-d", "-s", "top", "-x", "160", "-y", "24",
		bin, "top", "--agent", addr, "--prometheus", srv.URL, "--refresh", "200ms")
	t.Cleanup(func() { exec.Command("tmux", "-L", s.socket, "kill-server").Run() })
	s.waitFor("the tabs", func(sc string) bool { return strings.Contains(sc, "6 Insights") })
	s.run("send-keys", "-t", "top", "6")
	screen := s.waitFor("the insights", func(sc string) bool { return strings.Contains(sc, "as of ") })

	var regressions, requests []string
	for _, line := range strings.Split(screen, "\n") {
		switch f := strings.Fields(line); {
		case len(f) > 0 && f[0] == "regression":
			regressions = append(regressions, line)
		case len(f) > 0 && f[0] == "requests":
			requests = append(requests, line)
		}
	}
	if len(regressions) != 1 || !strings.Contains(regressions[0], "rollouts/Deployment/checkout ") ||
		!regexp.MustCompile(`http_latency_seconds \+(29|30|31)\.\d% \(p \S+\) after .*checkout:1@6f7c9 -> checkout:2@84b2d`).MatchString(regressions[0]) {
		t.Errorf("regressions: want checkout's latency alone:\n%s", screen)
	}
	var api string
	for _, l := range requests {
		if strings.Contains(l, "accept/Deployment/api/api") {
			api = l
		}
	}
	m := regexp.MustCompile(`cpu 250m -> (\d+)m, memory 128Mi -> 288Mi`).FindStringSubmatch(api)
	if m == nil {
		t.Fatalf("no requests row for the acceptance workload:\n%s", screen)
	}
	// P90 x 1.15 of CPU uniform in 0.4-0.6 cores, each sample the mean
	// over a step (2 minutes for a week): the acceptance bounds.
	if mc, _ := strconv.Atoi(m[1]); mc < 500 || mc > 800 {
		t.Errorf("cpu request %dm, want 500-800m:\n%s", mc, api)
	}
	s.run("send-keys", "-t", "top", "q")
}
