package tui

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/testutil"
)

// A real agent sees a test cgroup exec a program with known (and hostile)
// arguments; the trace view of that cgroup, driven as a user would, shows
// that exec and its exit, nothing else, with the arguments, the resolved
// executable and the parent's, escaped; leaving the view closes the
// agent's stream. The same through a hub.
func TestTrailShowsARealExec(t *testing.T) {
	testutil.RequireRoot(t)
	_, agentAddr := testutil.RunAgent(t, "--probes", "process")
	agent := dial(t, agentAddr)
	t.Run("agent", func(t *testing.T) { traceRealExec(t, agent, agent) })
	t.Run("hub", func(t *testing.T) { traceRealExec(t, dial(t, runHub(t, agentAddr)), agent) })
}

func dial(t *testing.T, addr string) apiclient.Client {
	t.Helper()
	c, err := apiclient.Dial(context.Background(), addr, apiclient.TLS{}, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// runHub serves a hub whose one member, "a", is the agent at agentAddr.
func runHub(t *testing.T, agentAddr string) string {
	t.Helper()
	dir := t.TempDir()
	cfg := filepath.Join(dir, "hub.yaml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, "clusters:\n- name: a\n  agents: [%q]\n", agentAddr), 0o600); err != nil {
		t.Fatal(err)
	}
	addr := "unix://" + filepath.Join(dir, "hub.sock")
	cmd := exec.Command(testutil.Binary(t), "hub", "--listen", addr, "--config", cfg)
	var logs testutil.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		cmd.Wait()
	})
	// The socket file appears at bind, before listen: dial it.
	testutil.Eventually(t, 10*time.Second, func() bool {
		c, err := net.Dial("unix", strings.TrimPrefix(addr, "unix://"))
		if err == nil {
			c.Close()
		}
		return err == nil
	}, "hub never listened: %s", &logs)
	return addr
}

// traceRealExec runs the view on client; agent tells how many streams are open.
func traceRealExec(t *testing.T, client, agent apiclient.Client) {
	streams := func() uint32 {
		st, err := agent.Statuses(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return st[0].GetApiStreams()
	}
	cg := testutil.NewCgroup(t)
	sleeper := cg.Command(t, "/bin/sleep", "60") // so that the agent lists the cgroup
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sleeper.Process.Kill(); sleeper.Wait() })

	m := New(client, Options{ExportDir: t.TempDir(), Source: "test"})
	t.Cleanup(m.cancel)
	m.Update(tea.WindowSizeMsg{Width: 250, Height: 24})
	testutil.Eventually(t, 10*time.Second, func() bool {
		m.Update(m.refresh()())
		return m.err == nil && len(m.rows) > 0 && rowOf(m, cg.Path) >= 0
	}, "the workloads view never listed %s (error %v)", cg.Path, m.err)
	press(m, "/", cg.Path, "enter")
	if len(m.visible) != 1 {
		t.Fatalf("filter %s: %d rows", cg.Path, len(m.visible))
	}
	next := press(m, "l")
	if m.view != trailView {
		t.Fatalf("l opened view %v", m.view)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return streams() == 1 }, "the trace view opened no stream")

	args := []string{"orb8-marker", "two words", "\x1b[2J", "a\nb"}
	cmd := cg.Command(t, "/bin/true", args...)
	if err := cmd.Run(); err != nil {
		t.Fatal(err)
	}
	pid := uint32(cmd.Process.Pid)
	// Take the stream's messages until the exit of that process.
	exited := func() bool {
		for _, te := range m.trail.events {
			if te.e.GetKind() == "exit" && te.e.GetProcess().GetPid() == pid {
				return true
			}
		}
		return false
	}
	for !exited() {
		got := make(chan tea.Msg, 1)
		go func(next tea.Cmd) { got <- next() }(next)
		select {
		case msg := <-got:
			_, next = m.Update(msg)
		case <-time.After(10 * time.Second):
			t.Fatalf("no exit of pid %d within 10 s; trail: %v", pid, m.trail.events)
		}
	}

	var kinds []string
	for _, te := range m.trail.events {
		kinds = append(kinds, fmt.Sprintf("%s %d", te.e.GetKind(), te.e.GetProcess().GetPid()))
	}
	if want := []string{fmt.Sprintf("exec %d", pid), fmt.Sprintf("exit %d", pid)}; strings.Join(kinds, ",") != strings.Join(want, ",") {
		t.Fatalf("trail %v, want exactly %v", kinds, want)
	}
	exe, err := filepath.EvalSymlinks("/bin/true")
	if err != nil {
		t.Fatal(err)
	}
	parent, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	x := m.trail.events[0].e.GetExec()
	if got := x.GetArgs(); strings.Join(got, "|") != strings.Join(append([]string{"/bin/true"}, args...), "|") || x.GetPath() != exe || x.GetParentPath() != parent {
		t.Fatalf("exec %v, want args %q, path %s, parent %s", x, args, exe, parent)
	}
	view := m.View()
	rows := trailLines(m)
	wantExec := fmt.Sprintf(`exec   %7d     0 true         %s orb8-marker "two words" "\x1b[2J" "a\nb"  parent=%s`, pid, exe, parent)
	wantExit := fmt.Sprintf(`exit   %7d     0 true         code 0`, pid)
	if !strings.HasSuffix(rows[0], wantExec) || !strings.HasSuffix(rows[1], wantExit) || rows[2] != "" {
		t.Fatalf("rows\n%s\nwant the exec %q and the exit %q only; view:\n%s", strings.Join(rows[:3], "\n"), wantExec, wantExit, view)
	}
	if strings.Contains(view, "\x1b[2J") || strings.Contains(view, "a\nb") {
		t.Fatalf("the arguments reached the screen raw:\n%s", view)
	}
	if lines := strings.Split(view, "\n"); len(lines) != 24 {
		t.Fatalf("view has %d lines, want 24", len(lines))
	}

	press(m, "esc")
	if m.view != workloadsView {
		t.Fatalf("esc: view %v", m.view)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return streams() == 0 }, "leaving the view left its stream open")
}

// rowOf is the index of the workload row of a cgroup, or -1.
func rowOf(m *Model, cgroup string) int {
	for i, r := range m.rows {
		if r.f.GetWorkload().GetCgroup() == cgroup {
			return i
		}
	}
	return -1
}
