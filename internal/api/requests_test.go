package api_test

import (
	"context"
	"fmt"
	"net/netip"
	"testing"
	"time"

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
