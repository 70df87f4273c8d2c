package testutil

import (
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// Agent is an `orb8 agent` a test started: where its metrics and API are.
type Agent struct {
	URL, API string
	cmd      *exec.Cmd
	stderr   *Buffer
}

// RunAgent starts `orb8 agent` with args, its metrics on a free port and
// its API on a socket of its own, and returns both addresses once it is
// ready (/readyz: its probes attached). It is killed after the test.
func RunAgent(t testing.TB, args ...string) (url, api string) {
	t.Helper()
	a := StartAgent(t, args...)
	return a.URL, a.API
}

// StartAgent is RunAgent's agent, which the test may also Stop.
func StartAgent(t testing.TB, args ...string) *Agent {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	a := &Agent{URL: "http://" + addr, API: "unix://" + filepath.Join(t.TempDir(), "api.sock"), stderr: &Buffer{}}
	a.cmd = exec.Command(Binary(t), append([]string{"agent", "--metrics-addr", addr, "--api-addr", a.API}, args...)...)
	a.cmd.Stderr = a.stderr
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		a.cmd.Process.Kill()
		a.cmd.Wait()
	})
	Eventually(t, 60*time.Second, func() bool {
		resp, err := http.Get(a.URL + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "agent %v never ready: %s", args, a.stderr)
	return a
}

// Stop ends the agent as a service manager does, with SIGTERM, and waits
// for it to exit; it fails the test when the agent does not exit cleanly.
func (a *Agent) Stop(t testing.TB) {
	t.Helper()
	if err := a.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- a.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("agent exited: %v: %s", err, a.stderr)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("agent did not exit within 30s of SIGTERM: %s", a.stderr)
	}
}

// Log is what the agent wrote to stderr so far.
func (a *Agent) Log() string { return a.stderr.String() }
