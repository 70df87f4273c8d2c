// Package security holds acceptance tests of the agent's exposure, run
// against the real binary.
package security

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

// helperEnv runs this test binary as the check inside fresh namespaces.
const helperEnv = "ORB8_SECURITY_HELPER"

func TestMain(m *testing.M) {
	if bin := os.Getenv(helperEnv); bin != "" {
		report, err := checkDefaults(bin)
		if err != nil {
			report.Error = err.Error()
		}
		json.NewEncoder(os.Stdout).Encode(report)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

// defaultsReport is what the helper found.
type defaultsReport struct {
	ListeningTCP []int          // ports the agent listens on
	Paths        map[string]int // HTTP status of each path of the metrics listener
	Status       string         // orb8 status, with default flags
	Error        string
}

// With default flags the agent listens on no TCP port but the metrics one
// (the API is a unix socket that only root may use), its metrics listener
// serves /metrics, /healthz and /readyz and nothing else, and `orb8 status`
// finds the agent with no flags. The agent runs with truly default flags in
// a network and mount namespace of its own (a private /run/orb8 and
// loopback), so that nothing else on the machine is in the way.
func TestDefaultListeners(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := exec.LookPath("ip"); err != nil {
		t.Skip("needs ip(8) from iproute2")
	}
	bin := testutil.Binary(t)
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self, "-test.run", "^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+bin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS | syscall.CLONE_NEWNET}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, &stderr)
	}
	var r defaultsReport
	if err := json.Unmarshal(out, &r); err != nil {
		t.Fatalf("helper said %q: %v", out, err)
	}
	if r.Error != "" {
		t.Fatalf("helper: %s\n%s", r.Error, &stderr)
	}
	if len(r.ListeningTCP) != 1 || r.ListeningTCP[0] != 9808 {
		t.Errorf("the agent listens on TCP ports %v; want only the metrics port 9808", r.ListeningTCP)
	}
	for path, code := range r.Paths {
		want := http.StatusNotFound
		switch path {
		case "/metrics", "/healthz", "/readyz":
			want = http.StatusOK
		}
		if code != want {
			t.Errorf("GET %s on the metrics listener: %d, want %d", path, code, want)
		}
	}
	if !strings.Contains(r.Status, "process") || !strings.Contains(r.Status, "yes") {
		t.Errorf("orb8 status with default flags:\n%s", r.Status)
	}
}

// checkDefaults runs inside the fresh namespaces.
func checkDefaults(bin string) (defaultsReport, error) {
	r := defaultsReport{Paths: map[string]int{}}
	if err := os.MkdirAll("/run/orb8", 0o700); err != nil {
		return r, err
	}
	if err := syscall.Mount("tmpfs", "/run/orb8", "tmpfs", 0, "mode=0700"); err != nil {
		return r, fmt.Errorf("mount a private /run/orb8: %w", err)
	}
	if out, err := exec.Command("ip", "link", "set", "lo", "up").CombinedOutput(); err != nil {
		return r, fmt.Errorf("ip link set lo up: %v: %s", err, out)
	}
	agent := exec.Command(bin, "agent")
	logs, err := os.CreateTemp("", "orb8-agent-log")
	if err != nil {
		return r, err
	}
	defer os.Remove(logs.Name())
	agent.Stdout, agent.Stderr = logs, logs
	if err := agent.Start(); err != nil {
		return r, err
	}
	defer func() { agent.Process.Signal(syscall.SIGTERM); agent.Wait() }()
	client := &http.Client{Timeout: 5 * time.Second}
	deadline := time.Now().Add(2 * time.Minute) // probes load slowly on a busy 2-vCPU machine
	for {
		resp, err := client.Get("http://127.0.0.1:9808/readyz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(logs.Name())
			return r, fmt.Errorf("agent never ready: %v\n%s", err, log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	for _, path := range []string{"/metrics", "/healthz", "/readyz", "/", "/api/v1/workloads", "/api/v1/events", "/api/v1/flows",
		"/api/v1/dns", "/api/v1/status", "/api/v1/processes", "/debug/pprof/", "/metrics/../api/v1/flows"} {
		resp, err := client.Get("http://127.0.0.1:9808" + path)
		if err != nil {
			return r, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		r.Paths[path] = resp.StatusCode
	}
	if r.ListeningTCP, err = listeningPorts(agent.Process.Pid); err != nil {
		return r, err
	}
	out, err := exec.Command(bin, "status").CombinedOutput()
	r.Status = string(out)
	if err != nil {
		return r, fmt.Errorf("orb8 status: %v: %s", err, out)
	}
	return r, nil
}

// listeningPorts lists the TCP ports pid listens on, from its sockets'
// inodes and its network namespace's TCP tables.
func listeningPorts(pid int) ([]int, error) {
	fds, err := filepath.Glob(fmt.Sprintf("/proc/%d/fd/*", pid))
	if err != nil {
		return nil, err
	}
	inodes := map[string]bool{}
	for _, fd := range fds {
		if target, err := os.Readlink(fd); err == nil && strings.HasPrefix(target, "socket:[") {
			inodes[strings.TrimSuffix(strings.TrimPrefix(target, "socket:["), "]")] = true
		}
	}
	var ports []int
	for _, table := range []string{"tcp", "tcp6"} {
		f, err := os.Open(fmt.Sprintf("/proc/%d/net/%s", pid, table))
		if err != nil {
			return nil, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			fields := strings.Fields(sc.Text())
			// sl local_address rem_address st ... inode (field 9)
			if len(fields) < 10 || fields[3] != "0A" || !inodes[fields[9]] {
				continue
			}
			_, hexPort, _ := strings.Cut(fields[1], ":")
			if p, err := strconv.ParseInt(hexPort, 16, 32); err == nil {
				ports = append(ports, int(p))
			}
		}
		f.Close()
	}
	return ports, nil
}
