package api_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/access"
	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/cgroup"
)

type requests []api.Request

func (r requests) Requests() []api.Request { return r }

var tools = cgroup.Workload{Path: "/kubepods/pod3/c3", Namespace: "tools", Pod: "probe", Container: "p"}

// notable is web's and tools' requests: web served three (one failing),
// tools sent one failing.
func notable() requests {
	at := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	return requests{
		{Workload: web, Time: at, Direction: "server", Method: "GET", Path: "/a", Status: 200, Latency: 20 * time.Millisecond,
			Peer: netip.MustParseAddrPort("10.0.0.9:41000"), PeerName: api.Peer{Kind: "pod", Namespace: "shop", Name: "front-1"}, Protocol: "HTTP/1.1"},
		{Workload: web, Time: at.Add(time.Second), Direction: "server", Method: "GET", Path: "/b", Status: 200, Latency: 90 * time.Millisecond, Protocol: "HTTP/1.1", TLS: true},
		{Workload: web, Time: at.Add(2 * time.Second), Failing: true, Direction: "server", Method: "POST", Path: "/c", Status: 503, Latency: time.Millisecond, Protocol: "HTTP/1.1"},
		{Workload: tools, Time: at.Add(3 * time.Second), Failing: true, Direction: "client", Method: "GET", Path: "/d", Status: 500, Latency: time.Millisecond, Protocol: "HTTP/1.0"},
	}
}

func paths(rs []*pb.Request) string {
	var out []string
	for _, r := range rs {
		out = append(out, r.GetPath())
	}
	return fmt.Sprint(out)
}

// ListRequests lists one kind, sorted (slowest first, failing newest
// first), limited, within the caller's namespaces.
func TestListRequests(t *testing.T) {
	b := backend(t)
	b.Requests = notable()
	svc := api.NewService(b)
	ctx := context.Background()
	resp, err := svc.ListRequests(ctx, &pb.ListRequestsRequest{})
	if err != nil || paths(resp.Requests) != "[/b /a]" || resp.Truncated != 0 {
		t.Fatalf("slowest: %v, %v; want /b, /a", resp, err)
	}
	r := resp.Requests[1]
	if r.GetWorkload().GetPod() != "web-1" || r.GetWorkload().GetNode() != "node-a" || r.GetMethod() != "GET" || r.GetStatusCode() != 200 ||
		r.GetLatencySeconds() != 0.02 || r.GetPeerAddr() != "10.0.0.9" || r.GetPeerPort() != 41000 || r.GetPeer().GetName() != "front-1" ||
		r.GetProtocol() != "HTTP/1.1" || r.GetTls() || !r.GetTime().AsTime().Equal(notable()[0].Time) || r.GetDirection() != "server" {
		t.Errorf("request %v", r)
	}
	if tls := resp.Requests[0]; !tls.GetTls() || tls.GetPeerAddr() != "" || tls.GetPeer() != nil {
		t.Errorf("TLS request %v, want no peer", tls)
	}
	resp, err = svc.ListRequests(ctx, &pb.ListRequestsRequest{Kind: api.RequestsFailing, Limit: 1})
	if err != nil || paths(resp.Requests) != "[/d]" || resp.Truncated != 1 {
		t.Fatalf("failing, limit 1: %v, %v; want /d, one cut", resp, err)
	}
	resp, _ = svc.ListRequests(ctx, &pb.ListRequestsRequest{Kind: api.RequestsFailing, Filter: &pb.WorkloadFilter{Namespace: "shop"}})
	if paths(resp.Requests) != "[/c]" {
		t.Errorf("failing in shop: %v, want /c", paths(resp.Requests))
	}
	if _, err := svc.ListRequests(ctx, &pb.ListRequestsRequest{Kind: "newest"}); err == nil {
		t.Error("kind newest accepted")
	}

	decider := access.NewDecider(fakeReviewer{rights: map[string][]string{"shop-viewer": {"shop"}}}, "node-a")
	viewer := api.AsCaller(ctx, decider, access.Identity{User: "shop-viewer"})
	if resp, err := svc.ListRequests(viewer, &pb.ListRequestsRequest{Kind: api.RequestsFailing}); err != nil || paths(resp.Requests) != "[/c]" {
		t.Errorf("shop viewer's failing: %v, %v; want shop's /c only", resp, err)
	}
	if _, err := svc.ListRequests(viewer, &pb.ListRequestsRequest{Filter: &pb.WorkloadFilter{Namespace: "tools"}}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("shop viewer asking for tools: %v, want a refusal", err)
	}
	nobody := api.AsCaller(ctx, decider, access.Identity{User: "nobody"})
	if _, err := svc.ListRequests(nobody, &pb.ListRequestsRequest{}); status.Code(err) != codes.PermissionDenied {
		t.Errorf("a user with no rights: %v, want a refusal", err)
	}
}

// Workload figures fold the http probe's series by direction: requests,
// those answered 500 or more, and the duration buckets ending with +Inf.
func TestHTTPFigures(t *testing.T) {
	b := backend(t)
	reg := b.Metrics.(*prometheus.Registry)
	labels := []string{"namespace", "pod", "container", "cgroup"}
	reqs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "orb8_http_requests_total"}, append(labels, "direction", "method", "status_code"))
	dur := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "orb8_http_request_duration_seconds", Buckets: []float64{0.001, 0.01}}, append(labels, "direction"))
	reg.MustRegister(reqs, dur)
	reqs.WithLabelValues(append(web.LabelValues(), "server", "GET", "200")...).Add(90)
	reqs.WithLabelValues(append(web.LabelValues(), "server", "POST", "503")...).Add(6)
	reqs.WithLabelValues(append(web.LabelValues(), "server", "GET", "500")...).Add(4)
	reqs.WithLabelValues(append(web.LabelValues(), "client", "GET", "404")...).Add(7)
	for _, s := range []float64{0.0005, 0.005, 0.005, 1} {
		dur.WithLabelValues(append(web.LabelValues(), "server")...).Observe(s)
	}
	resp, err := api.NewService(b).ListWorkloads(context.Background(), &pb.ListWorkloadsRequest{Filter: &pb.WorkloadFilter{Pod: "web-1"}})
	if err != nil || len(resp.Workloads) != 1 {
		t.Fatalf("web: %v, %v", resp, err)
	}
	f := resp.Workloads[0]
	srv, cli := f.GetHttpServer(), f.GetHttpClient()
	if srv.GetRequestsTotal() != 100 || srv.GetErrorsTotal() != 10 || cli.GetRequestsTotal() != 7 || cli.GetErrorsTotal() != 0 || cli.GetDuration() != nil {
		t.Errorf("server %v, client %v", srv, cli)
	}
	var got []string
	for _, b := range srv.GetDuration() {
		got = append(got, fmt.Sprintf("%v:%d", b.GetUpperBound(), b.GetCumulativeCount()))
	}
	if fmt.Sprint(got) != "[0.001:1 0.01:3 +Inf:4]" {
		t.Errorf("server duration %v", got)
	}
	if resp, _ := api.NewService(b).ListWorkloads(context.Background(), &pb.ListWorkloadsRequest{Filter: &pb.WorkloadFilter{Pod: "db-1"}}); resp.Workloads[0].HttpServer != nil {
		t.Errorf("db serves nothing: %v", resp.Workloads[0].HttpServer)
	}
}

// A gRPC call carries its status; other requests none.
func TestListRequestsGRPC(t *testing.T) {
	b := backend(t)
	at := time.Date(2026, 12, 5, 9, 0, 0, 0, time.UTC)
	b.Requests = requests{
		{Workload: web, Time: at, Failing: true, Direction: "server", Method: "POST", Path: "/pkg.Svc/Get", Status: 200,
			Latency: time.Millisecond, Protocol: "HTTP/2", GRPC: true, GRPCStatus: 14},
		{Workload: web, Time: at.Add(time.Second), Failing: true, Direction: "server", Method: "GET", Path: "/c", Status: 503, Latency: time.Millisecond, Protocol: "HTTP/2"},
	}
	resp, err := api.NewService(b).ListRequests(context.Background(), &pb.ListRequestsRequest{Kind: api.RequestsFailing})
	if err != nil || paths(resp.Requests) != "[/c /pkg.Svc/Get]" {
		t.Fatalf("failing: %v, %v", resp, err)
	}
	if h, g := resp.Requests[0], resp.Requests[1]; h.GrpcStatus != nil || h.StatusText() != "503" || g.GetGrpcStatus() != 14 || g.GrpcStatus == nil || g.StatusText() != "200 grpc=14" {
		t.Errorf("HTTP %v (%q), gRPC %v (%q)", h.GrpcStatus, h.StatusText(), g.GrpcStatus, g.StatusText())
	}
}
