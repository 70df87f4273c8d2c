package e2e

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/probes/cgroups"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/testutil"
)

// prometheusBin is where Debian's prometheus package puts the server.
const prometheusBin = "/usr/bin/prometheus"

// TestPrometheusQueryReturnsExactExecCount: a real Prometheus scrapes the
// agent every second, and PromQL over its HTTP API returns exactly the execs
// the test made in its own cgroup.
func TestPrometheusQueryReturnsExactExecCount(t *testing.T) {
	requirePrometheus(t)
	target := startAgent(t, cgroups.Name, process.Name)
	prom := startPrometheus(t, target)

	cg := testutil.NewCgroup(t)
	const execs = 31
	for range execs {
		cg.Run(t, "/bin/true")
	}
	prom.waitExact(t, fmt.Sprintf("orb8_process_exec_total{cgroup=%q}", cg.Path), execs)

	// Outside Kubernetes the workload names are empty; PromQL matches them so.
	if named := prom.query(t, fmt.Sprintf(`orb8_process_exec_total{cgroup=%q,namespace="",pod="",container=""}`, cg.Path)); len(named) != 1 {
		t.Errorf("series with empty workload names: %+v, want the one series", named)
	}
	if up := prom.query(t, `up{job="orb8"}`); len(up) != 1 || up[0].value != 1 {
		t.Errorf(`up{job="orb8"} = %+v, want one target up`, up)
	}
}

// requirePrometheus fails a test run without root or the Prometheus server.
func requirePrometheus(t *testing.T) {
	t.Helper()
	testutil.RequireRoot(t)
	if _, err := os.Stat(prometheusBin); err != nil {
		t.Fatalf("%s missing: apt-get install -y --no-install-recommends prometheus (hack/test.sh installs it)", prometheusBin)
	}
}

// startAgent runs probes in-process and serves /metrics on a loopback
// port; it returns HOST:PORT.
func startAgent(t *testing.T, probes ...string) string {
	t.Helper()
	cfg := agent.DefaultConfig()
	cfg.Probes = probes
	return startAgentConfig(t, cfg)
}

// startAgentConfig is startAgent with every setting given.
func startAgentConfig(t *testing.T, cfg agent.Config) string {
	t.Helper()
	a, err := agent.New(cfg, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	a.Start(context.Background())
	srv := httptest.NewServer(a.Handler())
	t.Cleanup(func() {
		srv.Close()
		a.Close()
	})
	return srv.Listener.Addr().String()
}

type promServer struct {
	url string
	log *testutil.Buffer
	// patience is how long waitExact waits; 20 s when zero.
	patience time.Duration
}

// startPrometheus runs a Prometheus server that scrapes target every second
// and waits until it is ready; flags are added to its command line.
func startPrometheus(t *testing.T, target string, flags ...string) *promServer {
	t.Helper()
	dir := t.TempDir()
	return startServer(t, "prometheus", &testutil.Buffer{}, prometheusBin, append([]string{
		"--config.file=" + writeScrapeConfig(t, dir, "", target),
		"--storage.tsdb.path=" + filepath.Join(dir, "data"),
		"--web.listen-address=" + serverAddr,
		"--log.level=warn"}, flags...)...)
}

// writeScrapeConfig writes a Prometheus configuration that scrapes the
// targets every second, with more (remote_write, ...) after the scrape
// configs, into dir; it returns the file's path.
func writeScrapeConfig(t *testing.T, dir, more string, targets ...string) string {
	t.Helper()
	quoted, _ := json.Marshal(targets)
	cfg := fmt.Sprintf(`global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: orb8
    static_configs:
      - targets: %s
%s`, quoted, more)
	path := filepath.Join(dir, "prometheus.yml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// serverAddr in startServer's arguments stands for the HTTP address it
// picks for the server.
const serverAddr = "{addr}"

// startServer runs bin with args, serverAddr replaced by a free loopback
// address, until the test ends, its output to log, and waits until its
// /-/ready answers (as Prometheus and Thanos components do).
func startServer(t *testing.T, name string, log *testutil.Buffer, bin string, args ...string) *promServer {
	t.Helper()
	addr := freeAddr(t)
	p := &promServer{url: "http://" + addr, log: log}
	cmd := exec.Command(bin)
	for _, a := range args {
		cmd.Args = append(cmd.Args, strings.ReplaceAll(a, serverAddr, addr))
	}
	cmd.Stdout, cmd.Stderr = p.log, p.log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	testutil.Eventually(t, 30*time.Second, func() bool {
		resp, err := http.Get(p.url + "/-/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, "%s not ready; log:\n%s", name, p.log)
	return p
}

type sample struct {
	labels map[string]string
	value  float64
}

// query runs an instant PromQL query through the HTTP API.
func (p *promServer) query(t *testing.T, q string) []sample {
	t.Helper()
	resp, err := http.Get(p.url + "/api/v1/query?query=" + url.QueryEscape(q))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Status string `json:"status"`
		Error  string `json:"error"`
		Data   struct {
			ResultType string `json:"resultType"`
			Result     []struct {
				Metric map[string]string `json:"metric"`
				Value  [2]any            `json:"value"`
			} `json:"result"`
		} `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatalf("query %s: %v", q, err)
	}
	if body.Status != "success" || body.Data.ResultType != "vector" {
		t.Fatalf("query %s: status %s, type %s: %s", q, body.Status, body.Data.ResultType, body.Error)
	}
	var out []sample
	for _, r := range body.Data.Result {
		s, _ := r.Value[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("query %s: value %v: %v", q, r.Value, err)
		}
		out = append(out, sample{labels: r.Metric, value: v})
	}
	return out
}

// waitExact waits until query gives one series of value want, and fails
// as soon as a series exceeds it (counted more than the test made).
func (p *promServer) waitExact(t *testing.T, query string, want float64) {
	t.Helper()
	var got []sample
	testutil.Eventually(t, cmp.Or(p.patience, 20*time.Second), func() bool {
		got = p.query(t, query)
		for _, s := range got {
			if s.value > want {
				t.Fatalf("%s = %v, more than the %v made", query, s.value, want)
			}
		}
		return len(got) == 1 && got[0].value == want
	}, "PromQL %s = %+v, want one series = %v; prometheus log:\n%s", query, got, want, p.log)
}

// freeAddr returns a loopback HOST:PORT nobody listens on.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
