package testutil

import (
	"os/exec"
	"syscall"
	"testing"
	"time"
)

// StartHub runs `orb8 hub --config config` on a unix socket of the test's
// own until the test ends, and returns the socket's address and the hub's
// process. A failed test's log has the hub's output.
func StartHub(t testing.TB, config string) (addr string, cmd *exec.Cmd) {
	t.Helper()
	addr = Socket(t)
	cmd = exec.Command(Binary(t), "hub", "--listen", addr, "--config", config)
	logs := &Buffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		// A hub that does not stop does not hang the test binary.
		stop := time.AfterFunc(10*time.Second, func() { cmd.Process.Kill() })
		cmd.Wait()
		stop.Stop()
		if t.Failed() {
			t.Logf("orb8 hub's output:\n%s", logs)
		}
	})
	return addr, cmd
}
