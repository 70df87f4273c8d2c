package agent

import (
	"testing"
	"time"

	httpprobe "github.com/orb8/orb8/internal/probes/http"
	"github.com/orb8/orb8/internal/testutil"
)

// The http probe in the agent: curl in a test cgroup fetches the agent's own
// /metrics over one keep-alive connection, and the next scrape counts each
// fetch as a client request of that cgroup; the probe is up and in Status.
func TestHTTPProbeCountsRequestsToTheAgent(t *testing.T) {
	a, srv := startAgent(t, httpprobe.New())
	cg := testutil.NewCgroup(t)
	const n = 5
	args := []string{"-s", "--fail"}
	for range n {
		args = append(args, "-o", "/dev/null", srv.URL+"/metrics?from=curl")
	}
	if err := cg.Run(t, "/usr/bin/curl", args...); err != nil {
		t.Fatalf("curl: %v", err)
	}
	labels := map[string]string{"cgroup": cg.Path, "direction": "client", "method": "GET", "status_code": "200"}
	testutil.Eventually(t, 3*time.Second, func() bool {
		v, _ := testutil.Sample(t, scrape(t, srv.URL), "orb8_http_requests_total", labels)
		return v == n
	}, "orb8_http_requests_total%v never reached %d", labels, n)
	if v, ok := testutil.Sample(t, scrape(t, srv.URL), "orb8_probe_up", map[string]string{"probe": httpprobe.Name}); !ok || v != 1 {
		t.Errorf("orb8_probe_up{probe=http} = %v (present %v), want 1", v, ok)
	}
	up := false
	for _, st := range a.Status() {
		up = up || (st.Name == httpprobe.Name && st.Up)
	}
	if !up {
		t.Errorf("http probe not up in Status: %+v", a.Status())
	}
}
