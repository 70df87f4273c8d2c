package testutil

import (
	"net"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"
)

// RunAgent starts `orb8 agent` with args, its metrics on a free port and
// its API on a socket of its own, and returns both addresses once it is
// ready (/readyz: its probes attached). It is killed after the test.
func RunAgent(t testing.TB, args ...string) (url, api string) {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	api = "unix://" + filepath.Join(t.TempDir(), "api.sock")
	cmd := exec.Command(Binary(t), append([]string{"agent", "--metrics-addr", addr, "--api-addr", api}, args...)...)
	var stderr Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	url = "http://" + addr
	Eventually(t, 60*time.Second, func() bool {
		resp, err := http.Get(url + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "agent %v never ready: %s", args, &stderr)
	return url, api
}
