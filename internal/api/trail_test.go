package api_test

import (
	"context"
	"net/netip"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/access"
	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/server"
	"github.com/orb8/orb8/internal/testutil"
)

// The audit trail keeps the last records of each kind in its own ring
// (execs in containers only),
// names a connection's peer when it opens, leaves closes out, answers by
// time and filter, oldest first, and says from when each kind is whole; a
// namespace's viewer sees that namespace's records only.
func TestAuditTrail(t *testing.T) {
	bus := events.NewBus()
	name := func(ip netip.Addr) api.Peer {
		if ip == netip.MustParseAddr("10.244.0.9") {
			return api.Peer{Kind: "pod", Namespace: "shop", Name: "db-1"}
		}
		return api.Peer{}
	}
	trail := api.NewAuditTrail(bus, 3, name)
	defer trail.Close()
	start := time.Now()
	host := cgroup.Workload{Path: "/system.slice/cron.service"}
	docker := cgroup.Workload{Path: "/system.slice/docker-ab.scope", ContainerID: "ab", Runtime: "docker"}
	tools := cgroup.Workload{Path: "/kubepods/pod3/c3", Namespace: "tools", Pod: "t-1", Container: "t"}
	at := func(i int) time.Time { return start.Add(time.Duration(i) * time.Second) }
	// The host's own execs are not kept.
	bus.Publish(events.Event{Time: at(-1), Kind: events.KindExec, Workload: host, Exec: &events.Exec{Filename: "/usr/bin/make"}})
	// Five execs in containers in a ring of three: the first two are pushed out.
	for i, w := range []cgroup.Workload{web, web, db, tools, docker} {
		bus.Publish(events.Event{Time: at(i), Kind: events.KindExec, Workload: w, Process: events.Process{PID: uint32(100 + i)},
			Exec: &events.Exec{Filename: "/bin/sh", Path: "/bin/sh", Args: []string{"sh", "-c", "true"}}})
	}
	conn := func(i int, ev, remote string) events.Event {
		return events.Event{Time: at(i), Kind: events.KindTCP, Workload: web, TCP: &events.TCP{Event: ev, Direction: "outbound",
			Local: netip.MustParseAddrPort("10.244.0.5:40000"), Remote: netip.MustParseAddrPort(remote)}}
	}
	bus.Publish(conn(10, "open", "10.244.0.9:5432"))
	bus.Publish(conn(11, "close", "10.244.0.9:5432"))
	bus.Publish(conn(12, "failed", "198.51.100.7:80"))
	bus.Publish(conn(13, "open", "198.51.100.7:80"))
	bus.Publish(events.Event{Time: at(14), Kind: events.KindPolicy, Workload: web,
		Policy: &events.PolicyMatch{Policy: "shop/no-shells", Action: "kill", Mode: "enforce", Operation: "exec", Path: "/bin/sh"}})
	bus.Publish(events.Event{Time: at(15), Kind: events.KindAnomaly, Workload: web,
		Anomaly: &events.Anomaly{Kind: "new_binary", Item: "/usr/bin/nc", Profile: "shop/deployment/web/web"}})

	b := backend(t)
	b.Trail = trail
	svc := api.NewService(b)
	local := serveLocal(t, svc)
	ctx := context.Background()
	var all *pb.ListAuditTrailResponse
	testutil.Eventually(t, 2*time.Second, func() bool {
		all, _ = local.AuditTrail(ctx, &pb.ListAuditTrailRequest{})
		return len(all.GetRecords()) == 7
	}, "the trail to hold 3 execs, 2 connections, a policy match and an anomaly")
	var kinds []string
	for _, r := range all.GetRecords() {
		kinds = append(kinds, r.GetKind())
	}
	if got := strings.Join(kinds, ","); got != "exec,exec,exec,connect,connect,policy,anomaly" {
		t.Fatalf("records oldest first: %s", got)
	}
	if p := all.GetRecords()[0].GetProcess().GetPid(); p != 102 {
		t.Errorf("oldest exec held is pid %d, want 102 (the first two pushed out)", p)
	}
	c := all.GetRecords()[3].GetConnection()
	if c.GetRemoteAddr() != "10.244.0.9" || c.GetRemotePort() != 5432 || c.GetRemotePeer().GetName() != "db-1" || c.GetDirection() != "outbound" {
		t.Errorf("first connection: %v", c)
	}
	if c := all.GetRecords()[4].GetConnection(); c.GetRemoteAddr() != "198.51.100.7" || c.GetRemotePeer() != nil {
		t.Errorf("second connection: %v, want 198.51.100.7 with no peer", c)
	}
	if p := all.GetRecords()[5].GetPolicy(); p.GetPolicy() != "shop/no-shells" || p.GetTarget() != "/bin/sh" || p.GetAction() != "kill" {
		t.Errorf("policy record: %v", p)
	}
	if a := all.GetRecords()[6].GetAnomaly(); a.GetKind() != "new_binary" || a.GetItem() != "/usr/bin/nc" {
		t.Errorf("anomaly record: %v", a)
	}
	cov := map[string]*pb.AuditCoverage{}
	for _, c := range all.GetCoverage() {
		cov[c.GetKind()] = c
	}
	if c := cov["exec"]; c.GetEvicted() != 2 || !c.GetHeldSince().AsTime().Equal(at(2)) || c.GetCapacity() != 3 {
		t.Errorf("exec coverage %v: want 2 evicted, whole since the oldest held (%s)", c, at(2))
	}
	if c := cov["connect"]; c.GetEvicted() != 0 || c.GetHeldSince().AsTime().After(start) {
		t.Errorf("connect coverage %v: want whole since the trail started", c)
	}

	since, err := local.AuditTrail(ctx, &pb.ListAuditTrailRequest{Since: timestamppb.New(at(13)), Kinds: []string{"connect", "exec"}})
	if err != nil || len(since.GetRecords()) != 1 || since.GetRecords()[0].GetConnection().GetRemotePort() != 80 || len(since.GetCoverage()) != 2 {
		t.Errorf("since 13s, connect and exec: %v, %v", since, err)
	}
	cut, err := local.AuditTrail(ctx, &pb.ListAuditTrailRequest{Limit: 2, Kinds: []string{"exec"}})
	if err != nil || len(cut.GetRecords()) != 2 || cut.GetTruncated() != 1 || cut.GetRecords()[0].GetProcess().GetPid() != 103 {
		t.Errorf("limit 2: %v, %v; want the two newest execs, one cut", cut, err)
	}
	if _, err := local.AuditTrail(ctx, &pb.ListAuditTrailRequest{Kinds: []string{"exit"}}); err == nil {
		t.Error("a kind the trail does not keep was accepted")
	}

	dir := t.TempDir()
	ca := testutil.IssueCert(t, "orb8 test CA", nil, true)
	caFile, _ := ca.Write(t, dir, "ca")
	certFile, keyFile := testutil.IssueCert(t, "orb8-agent", ca, false).Write(t, dir, "agent")
	decider := access.NewDecider(fakeReviewer{tokens: map[string]string{"tools-token": "tools-viewer"}, rights: map[string][]string{"tools-viewer": {"tools"}}}, "node-a")
	srv, err := api.Listen(server.Address{Network: "tcp", Addr: "127.0.0.1:0"}, svc, server.TLSFiles{Cert: certFile, Key: keyFile, ClientCA: caFile}, decider)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve()
	t.Cleanup(srv.Stop)
	remote, err := apiclient.Dial(ctx, srv.Addr().String(), apiclient.TLS{CA: caFile, ServerName: "orb8-agent", Token: "tools-token"}, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { remote.Close() })
	seen, err := remote.AuditTrail(ctx, &pb.ListAuditTrailRequest{})
	if err != nil || len(seen.GetRecords()) != 1 || seen.GetRecords()[0].GetWorkload().GetNamespace() != "tools" {
		t.Errorf("tools viewer's trail: %v, %v; want the tools exec only", seen, err)
	}
	if _, err := remote.AuditTrail(ctx, &pb.ListAuditTrailRequest{Filter: &pb.WorkloadFilter{Namespace: "shop"}}); !apiclient.IsDenied(err) {
		t.Errorf("tools viewer asking for shop: %v, want a refusal", err)
	}
}

// Without a trail the call says so.
func TestAuditTrailAbsent(t *testing.T) {
	svc := api.NewService(backend(t))
	if _, err := serveLocal(t, svc).AuditTrail(context.Background(), &pb.ListAuditTrailRequest{}); err == nil {
		t.Error("an agent without a trail answered")
	}
}

// BenchmarkAuditTrailExec is the cost the trail adds per exec event: the
// bus's delivery and the ring's put, until the ring holds it.
func BenchmarkAuditTrailExec(b *testing.B) {
	bus := events.NewBus()
	trail := api.NewAuditTrail(bus, 8192, nil)
	defer trail.Close()
	e := events.Event{Time: time.Now(), Kind: events.KindExec, Workload: web,
		Exec: &events.Exec{Filename: "/bin/sh", Path: "/bin/sh", Args: []string{"sh", "-c", "true"}}}
	b.ReportAllocs()
	for b.Loop() {
		bus.Publish(e)
	}
	for {
		if recs, _ := trail.Trail([]string{api.TrailExec}); len(recs) == min(b.N, 8192) {
			break
		}
		time.Sleep(time.Millisecond)
	}
}
