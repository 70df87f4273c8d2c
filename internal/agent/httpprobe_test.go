package agent

import (
	"context"
	"testing"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
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

// The agent's API lists the HTTP probe's notable requests: curl in a test
// cgroup sends 5 requests answered 200 and 3 answered 503 to a server in
// another; the server's failing are exactly the three, and the client's
// slowest all eight (fewer than the 8 kept), each named by its workload.
func TestAPIListsNotableRequests(t *testing.T) {
	_, c := serveAPI(t, func(*cgroup.Resolver) []probe.Probe { return []probe.Probe{httpprobe.New()} })
	server, client := testutil.NewCgroup(t), testutil.NewCgroup(t)
	base := testutil.StatusServer(t, server)
	if err := client.Run(t, "/usr/bin/curl", testutil.StatusRequests(base, 8)...); err != nil {
		t.Fatalf("curl: %v", err)
	}
	list := func(cg *testutil.Cgroup, kind string) []*pb.Request {
		rs, err := c.Requests(context.Background(), &pb.ListRequestsRequest{Kind: kind, Filter: &pb.WorkloadFilter{Cgroup: cg.Path}})
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}
	testutil.Eventually(t, 3*time.Second, func() bool { return len(list(server, "failing")) == 3 && len(list(client, "slowest")) == 8 },
		"failing of the server %v, slowest of the client %v; want 3 and 8", list(server, "failing"), list(client, "slowest"))
	for _, r := range list(server, "failing") {
		if r.GetPath() != "/down" || r.GetStatusCode() != 503 || r.GetMethod() != "GET" || r.GetDirection() != "server" ||
			r.GetWorkload().GetCgroup() != server.Path || r.GetPeerAddr() != "127.0.0.1" {
			t.Errorf("failing %v, want GET /down answered 503 from 127.0.0.1", r)
		}
	}
	if n := len(list(client, "failing")); n != 3 {
		t.Errorf("the client's failing: %d, want 3", n)
	}
}
