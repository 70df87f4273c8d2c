package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/probes/cgroups"
	"github.com/orb8/orb8/internal/probes/cpu"
	"github.com/orb8/orb8/internal/probes/memory"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/testutil"
)

// fleetDashboard is the generated fleet dashboard whose queries the Thanos
// test runs.
const fleetDashboard = "../../deploy/dashboards/orb8-fleet.json"

// requireThanos is the thanos binary hack/lib/thanos-binary.sh built
// ($ORB8_THANOS_BIN); without it the test skips, unless
// ORB8_REQUIRE_THANOS=1 (make test) makes that a failure.
func requireThanos(t *testing.T) string {
	t.Helper()
	requirePrometheus(t)
	bin := os.Getenv("ORB8_THANOS_BIN")
	if _, err := os.Stat(bin); bin == "" || err != nil {
		if os.Getenv("ORB8_REQUIRE_THANOS") == "1" {
			t.Fatalf("ORB8_THANOS_BIN=%q: no thanos binary (hack/lib/thanos-binary.sh builds it)", bin)
		}
		t.Skip("ORB8_THANOS_BIN unset: run hack/lib/thanos-binary.sh and set it to the path it prints")
	}
	return bin
}

// startThanos runs Thanos Receive (remote write in) and Thanos Query over
// its Store API, their output to log; it returns Receive's remote-write
// URL and Query.
func startThanos(t *testing.T, bin string, log *testutil.Buffer) (remoteWrite string, query *promServer) {
	t.Helper()
	dir := t.TempDir()
	storeAPI, writeAddr := freeAddr(t), freeAddr(t)
	startServer(t, "thanos receive", log, bin, "receive",
		"--tsdb.path="+filepath.Join(dir, "receive"),
		"--grpc-address="+storeAPI,
		"--http-address="+serverAddr,
		"--remote-write.address="+writeAddr,
		`--label=receive_replica="0"`,
		"--log.level=warn")
	query = startServer(t, "thanos query", log, bin, "query",
		"--http-address="+serverAddr,
		"--grpc-address="+freeAddr(t),
		"--endpoint.sd-config=endpoints: [{address: "+storeAPI+"}]",
		"--query.replica-label=receive_replica",
		"--log.level=warn")
	query.patience = time.Minute
	return "http://" + writeAddr + "/api/v1/receive", query
}

// TestThanosAnswersEachClusterExactly: two agents, --cluster-name a and
// b, each count the execs of a test cgroup of their own; a Prometheus in
// agent mode scrapes both and remote-writes into a real Thanos Receive;
// Thanos Query answers each cluster's exact counts by the cluster label,
// and every query of the fleet dashboard returns both clusters.
func TestThanosAnswersEachClusterExactly(t *testing.T) {
	bin := requireThanos(t)
	targets := map[string]string{}
	for _, cluster := range []string{"a", "b"} {
		cfg := agent.DefaultConfig()
		cfg.Probes = []string{cgroups.Name, process.Name, cpu.Name, memory.Name}
		cfg.ClusterName = cluster
		targets[cluster] = startAgentConfig(t, cfg)
	}
	// One log for the three servers: any of them may be why a query finds nothing.
	log := &testutil.Buffer{}
	remoteWrite, thanos := startThanos(t, bin, log)
	dir := t.TempDir()
	startServer(t, "prometheus agent", log, prometheusBin,
		"--enable-feature=agent",
		"--config.file="+writeScrapeConfig(t, dir, fmt.Sprintf(`remote_write:
  - url: %s
    queue_config:
      batch_send_deadline: 1s
`, remoteWrite), targets["a"], targets["b"]),
		"--storage.agent.path="+filepath.Join(dir, "agent"),
		"--web.listen-address="+serverAddr,
		"--log.level=warn")

	execs := map[string]int{"a": 17, "b": 23}
	cgroupOf := map[string]string{}
	for cluster, n := range execs {
		cg := testutil.NewCgroup(t)
		cgroupOf[cluster] = cg.Path
		for range n {
			cg.Run(t, "/bin/true")
		}
	}
	for cluster, n := range execs {
		thanos.waitExact(t, fmt.Sprintf(`orb8_process_exec_total{cluster=%q, cgroup=%q}`, cluster, cgroupOf[cluster]), float64(n))
	}
	// One agent per cluster, each series once (no replica doubles it).
	for _, s := range thanos.query(t, `count by (cluster) (orb8_build_info)`) {
		if s.value != 1 {
			t.Errorf("cluster %q: %v agents, want 1", s.labels["cluster"], s.value)
		}
	}
	if got := clustersIn(thanos.query(t, `orb8_build_info`)); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("orb8_build_info from clusters %v, want a and b", got)
	}
	testFleetDashboard(t, thanos)
}

// testFleetDashboard runs every query of the fleet dashboard against
// Thanos Query, the cluster variable at "All": each must return series of
// both clusters, but those of accelerator figures, which need one.
func testFleetDashboard(t *testing.T, thanos *promServer) {
	exprs, variables := testutil.DashboardQueries(t, fleetDashboard)
	if len(exprs) < 8 || !slices.Contains(variables, "label_values(orb8_build_info{}, cluster)") {
		t.Fatalf("fleet dashboard: %d queries, variables %v", len(exprs), variables)
	}
	if got := labelValues(t, thanos, "cluster"); !slices.Equal(got, []string{"a", "b"}) {
		t.Errorf("cluster variable's values %v, want a and b", got)
	}
	grafana := strings.NewReplacer("$__rate_interval", "1m", "$cluster", ".*", "$namespace", ".*")
	accelerator := 0
	for _, e := range exprs {
		if strings.Contains(e, "accelerator") {
			accelerator++ // this machine has none to report
			continue
		}
		q := grafana.Replace(e)
		var got []string
		testutil.Eventually(t, time.Minute, func() bool {
			got = clustersIn(thanos.query(t, q))
			return slices.Equal(got, []string{"a", "b"})
		}, "fleet dashboard query %s returns clusters %v, want a and b; log:\n%s", q, got, thanos.log)
	}
	if accelerator > 2 {
		t.Errorf("%d accelerator queries left unchecked", accelerator)
	}
}

// clustersIn lists the cluster labels of samples, sorted, once each.
func clustersIn(samples []sample) []string {
	var out []string
	for _, s := range samples {
		out = append(out, s.labels["cluster"])
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// labelValues asks the HTTP API for a label's values, as Grafana's
// label_values() variable query does.
func labelValues(t *testing.T, p *promServer, label string) []string {
	t.Helper()
	resp, err := http.Get(p.url + "/api/v1/label/" + url.PathEscape(label) + "/values")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body struct {
		Data []string `json:"data"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	return body.Data
}
