package hub_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/access"
	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/hub"
	"github.com/orb8/orb8/internal/server"
	"github.com/orb8/orb8/internal/testutil"
)

// startAgent runs a standalone agent with the process probe, serving its
// API on a socket of its own; it is stopped after the test.
func startAgent(t *testing.T) (sock string, stop func()) {
	t.Helper()
	sock = testutil.Socket(t)
	cmd := exec.Command(testutil.Binary(t), "agent", "--api-addr", sock, "--metrics-addr", "127.0.0.1:0", "--probes", "process")
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	stopped := false
	stop = func() {
		if !stopped {
			stopped = true
			cmd.Process.Signal(syscall.SIGTERM)
			cmd.Wait()
		}
	}
	t.Cleanup(stop)
	testutil.Eventually(t, time.Minute, func() bool {
		c, err := apiclient.Dial(context.Background(), sock, apiclient.TLS{}, time.Second)
		if err != nil {
			return false
		}
		defer c.Close()
		sts, err := c.Statuses(context.Background())
		return err == nil && len(sts) == 1 && slices.ContainsFunc(sts[0].GetProbes(), func(p *pb.ProbeStatus) bool { return p.GetName() == "process" && p.GetUp() })
	}, "agent at %s never ready; log:\n%s", sock, &logs)
	return sock, stop
}

func writeConfig(t *testing.T, path string, members map[string]string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("clusters:\n")
	names := make([]string, 0, len(members))
	for n := range members {
		names = append(names, n)
	}
	slices.Sort(names)
	for _, n := range names {
		fmt.Fprintf(&b, "- name: %s\n  agents: [%q]\n  timeout: 2s\n", n, members[n])
	}
	writeHubConfig(t, path, b.String())
}

// TestHubAnswersForEveryMember: two standalone agents, given by address as
// members a and b, both count a test cgroup's execs; the hub lists that
// cgroup once per member with the member's name and exact count, chooses a
// member for --cluster, still answers when one agent stops (naming it), and
// follows its configuration file when it changes.
func TestHubAnswersForEveryMember(t *testing.T) {
	testutil.RequireRoot(t)
	f := startFleet(t)
	sockA, stopB, cfg, hubAddr, c := f.sockA, f.stopB, f.config, f.hubAddr, f.client
	ctx := t.Context()

	cg := testutil.NewCgroup(t)
	const execs = 3
	for range execs {
		cg.Run(t, "/bin/true")
	}
	// exec counts per cluster, as the hub lists the test cgroup.
	counts := func(cluster string) (map[string]float64, error) {
		ws, err := c.Workloads(ctx, &pb.ListWorkloadsRequest{Filter: &pb.WorkloadFilter{Cgroup: cg.Path, Cluster: cluster}})
		got := map[string]float64{}
		for _, w := range ws {
			got[w.GetWorkload().GetCluster()] += w.GetExecTotal()
		}
		return got, err
	}
	var (
		got map[string]float64
		err error
	)
	testutil.Eventually(t, 10*time.Second, func() bool {
		got, err = counts("")
		return err == nil && got["a"] == execs && got["b"] == execs && len(got) == 2
	}, "hub's exec counts of %s: %v, %v; want %d from each of a and b", cg.Path, got, err, execs)

	if got, err = counts("b"); err != nil || len(got) != 1 || got["b"] != execs {
		t.Errorf("--cluster b: %v, %v; want b's %d only", got, err, execs)
	}
	if _, err := counts("c"); err == nil || !strings.Contains(err.Error(), `no fleet member "c"`) {
		t.Errorf("an unknown member: %v", err)
	}
	sts, err := c.Statuses(ctx)
	if err != nil || len(sts) != 2 || sts[0].GetCluster() == sts[1].GetCluster() {
		t.Errorf("statuses through the hub: %v, %v; want one per member", sts, err)
	}
	out, stderr := runCLI(t, "workloads", "--hub", hubAddr, "--cgroup", cg.Path, "-o", "json")
	if clusters := jsonClusters(t, out); !slices.Equal(clusters, []string{"a", "b"}) || stderr != "" {
		t.Errorf("orb8 workloads --hub: clusters %v, stderr %q", clusters, stderr)
	}

	stopB()
	got, err = counts("")
	var partial *apiclient.PartialError
	if !errors.As(err, &partial) || !strings.Contains(err.Error(), "cluster b") || got["a"] != execs || len(got) != 1 {
		t.Errorf("with b stopped: %v, %v; want a's %d and an error naming cluster b", got, err, execs)
	}
	out, stderr = runCLI(t, "workloads", "--hub", hubAddr, "--cgroup", cg.Path, "-o", "json")
	if clusters := jsonClusters(t, out); !slices.Equal(clusters, []string{"a"}) || !strings.Contains(stderr, "warning") || !strings.Contains(stderr, "cluster b") {
		t.Errorf("orb8 workloads --hub with b stopped: clusters %v, stderr %q", clusters, stderr)
	}

	// The fleet changes without a restart: b leaves, c (no agent) joins.
	writeConfig(t, cfg, map[string]string{"a": sockA, "c": "unix:///nonexistent/orb8.sock"})
	testutil.Eventually(t, 5*time.Second, func() bool {
		got, err = counts("")
		return got["a"] == execs && len(got) == 1 && err != nil && strings.Contains(err.Error(), "cluster c") && !strings.Contains(err.Error(), "cluster b")
	}, "after the reload: %v, %v; want a's count, an error naming c and not b", got, err)
	// A file that does not parse keeps the fleet.
	if err := os.WriteFile(cfg, []byte("clusters: [\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond)
	if got, _ = counts("a"); got["a"] != execs {
		t.Errorf("after a broken file: %v; want the fleet unchanged", got)
	}
}

// testFleet is a hub in the test's process whose members a and b are
// standalone agents (startAgent).
type testFleet struct {
	sockA, config, hubAddr string
	stopB                  func()
	client                 *apiclient.Agent // of the hub
}

func startFleet(t *testing.T) testFleet {
	t.Helper()
	f := testFleet{config: filepath.Join(t.TempDir(), "hub.yaml")}
	var sockB string
	f.sockA, _ = startAgent(t)
	sockB, f.stopB = startAgent(t)
	writeConfig(t, f.config, map[string]string{"a": f.sockA, "b": sockB})
	f.hubAddr, f.client = serveHub(t, f.config)
	return f
}

// writeHubConfig writes and renames, so the hub never reads half a file.
func writeHubConfig(t *testing.T, path, body string) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// serveHub runs a hub on config in the test's process, following changes
// of the file, serves its API on a socket, and dials it; all stop after the
// test.
func serveHub(t *testing.T, config string) (addr string, c *apiclient.Agent) {
	t.Helper()
	ctx := t.Context()
	h, err := hub.New(ctx, config, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close() })
	t.Cleanup(h.Watch(ctx, 100*time.Millisecond))
	addr = testutil.Socket(t)
	listen, _ := server.ParseAddress(addr)
	srv, err := api.Listen(listen, h, server.TLSFiles{}, access.NewDecider(nil, "hub"))
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(srv.Stop)
	c, err = apiclient.Dial(ctx, addr, apiclient.TLS{}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return addr, c
}

func runCLI(t *testing.T, args ...string) (stdout, stderr string) {
	t.Helper()
	cmd := exec.Command(testutil.Binary(t), args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("orb8 %s: %v\n%s", strings.Join(args, " "), err, errb.String())
	}
	return out.String(), errb.String()
}

// jsonClusters is the sorted cluster of each JSON line of workloads.
func jsonClusters(t *testing.T, out string) []string {
	t.Helper()
	var clusters []string
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		if line == "" {
			continue
		}
		var w struct {
			Workload struct {
				Cluster string `json:"cluster"`
			} `json:"workload"`
		}
		if err := json.Unmarshal([]byte(line), &w); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		clusters = append(clusters, w.Workload.Cluster)
	}
	slices.Sort(clusters)
	return clusters
}
