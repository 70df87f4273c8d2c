package api

import (
	"context"
	"net/netip"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/events"
)

// Kinds of audit trail records.
const (
	TrailExec    = "exec"    // a program run in a container (exec events)
	TrailConnect = "connect" // a TCP connection that opened, either way (tcp events)
	TrailPolicy  = "policy"  // a policy match
	TrailAnomaly = "anomaly" // an anomaly raised
)

// TrailKinds are the kinds of record the audit trail keeps.
var TrailKinds = []string{TrailExec, TrailConnect, TrailPolicy, TrailAnomaly}

// trailKindOf is the record kind of an event kind.
var trailKindOf = map[string]string{
	events.KindExec: TrailExec, events.KindTCP: TrailConnect, events.KindPolicy: TrailPolicy, events.KindAnomaly: TrailAnomaly,
}

// TrailRecord is one record of the audit trail: the event, and for a
// connection the Kubernetes object that owned its remote address then.
type TrailRecord struct {
	Kind  string
	Event events.Event
	Peer  Peer
}

// TrailCoverage is how far back the trail of one kind is whole.
type TrailCoverage struct {
	Kind      string
	HeldSince time.Time
	Evicted   uint64
	Dropped   uint64
	Capacity  int
}

// TrailSource is the audit trail (AuditTrail): the records of the kinds
// asked for, oldest first within each kind, and what each kind covers.
type TrailSource interface {
	Trail(kinds []string) ([]TrailRecord, []TrailCoverage)
}

// AuditTrail is a TrailSource fed by the bus: the most recent records of
// each kind in a fixed ring per kind, so that a burst of one kind (a build
// running thousands of programs) pushes out none of the others.
type AuditTrail struct {
	bus     *events.Bus
	sub     *events.Subscription
	wg      sync.WaitGroup
	started time.Time
	name    func(netip.Addr) Peer

	mu    sync.Mutex
	rings map[string]*ring[TrailRecord]
}

// NewAuditTrail keeps the last size records of each kind published on bus
// until Close; name (nil without Kubernetes) names a connection's peer.
func NewAuditTrail(bus *events.Bus, size int, name func(netip.Addr) Peer) *AuditTrail {
	t := &AuditTrail{bus: bus, started: time.Now(), name: name, rings: map[string]*ring[TrailRecord]{}}
	for _, k := range TrailKinds {
		r := newRing[TrailRecord](size)
		t.rings[k] = &r
	}
	t.sub = bus.Subscribe(4096, []string{events.KindExec, events.KindTCP, events.KindPolicy, events.KindAnomaly}, kept)
	t.wg.Add(1)
	go t.run()
	return t
}

// kept says whether the trail keeps e. Closes and failed handshakes are no
// connection opened. Execs are kept in containers only (a pod's, or one a
// runtime names): a node's own builds and scripts would push a day of
// containers' execs out of the ring in minutes.
func kept(e *events.Event) bool {
	switch {
	case e.TCP != nil:
		return e.TCP.Event == "open"
	case e.Exec != nil:
		return e.Workload.Namespace != "" || e.Workload.ContainerID != ""
	}
	return true
}

func (t *AuditTrail) run() {
	defer t.wg.Done()
	for e := range t.sub.C {
		r := TrailRecord{Kind: trailKindOf[e.Kind], Event: e}
		if e.TCP != nil && t.name != nil && e.TCP.Remote.IsValid() {
			r.Peer = t.name(e.TCP.Remote.Addr())
		}
		t.mu.Lock()
		t.rings[r.Kind].put(r)
		t.mu.Unlock()
	}
}

// Trail implements TrailSource.
func (t *AuditTrail) Trail(kinds []string) ([]TrailRecord, []TrailCoverage) {
	t.mu.Lock()
	defer t.mu.Unlock()
	var records []TrailRecord
	var coverage []TrailCoverage
	for _, k := range kinds {
		r := t.rings[k]
		c := TrailCoverage{Kind: k, HeldSince: t.started, Evicted: r.evicted, Dropped: t.sub.Dropped(), Capacity: r.size}
		if oldest, ok := r.oldest(); ok && r.evicted > 0 {
			c.HeldSince = oldest.Event.Time
		}
		records = append(records, r.all()...)
		coverage = append(coverage, c)
	}
	return records, coverage
}

// Close stops following the bus.
func (t *AuditTrail) Close() {
	t.bus.Unsubscribe(t.sub)
	t.wg.Wait()
}

// ListAuditTrail implements pb.AgentServer.
func (s *Service) ListAuditTrail(ctx context.Context, req *pb.ListAuditTrailRequest) (*pb.ListAuditTrailResponse, error) {
	keep, err := s.filter(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	kinds := req.GetKinds()
	if len(kinds) == 0 {
		kinds = TrailKinds
	}
	for _, k := range kinds {
		if !slices.Contains(TrailKinds, k) {
			return nil, status.Errorf(codes.InvalidArgument, "record kind %q: want exec, connect, policy or anomaly", k)
		}
	}
	kinds = slices.Compact(slices.Sorted(slices.Values(kinds)))
	if s.b.Trail == nil {
		return nil, status.Error(codes.FailedPrecondition, "this agent keeps no audit trail: it runs without --audit-trail (chart: auditTrail.enabled)")
	}
	var since time.Time
	if req.GetSince() != nil {
		since = req.GetSince().AsTime()
	}
	held, coverage := s.b.Trail.Trail(kinds)
	var records []TrailRecord
	for _, r := range held {
		if !r.Event.Time.Before(since) && keep.matchWorkload(&r.Event.Workload) {
			records = append(records, r)
		}
	}
	if err := visible(keep, len(records)); err != nil {
		return nil, err
	}
	sort.SliceStable(records, func(i, j int) bool { return records[i].Event.Time.Before(records[j].Event.Time) })
	// The oldest are cut: a report wants the recent past whole.
	slices.Reverse(records)
	records, truncated := limit(records, req.GetLimit())
	slices.Reverse(records)
	resp := &pb.ListAuditTrailResponse{Truncated: truncated}
	for i := range records {
		resp.Records = append(resp.Records, trailMessage(&records[i], s.b.Node))
	}
	for _, c := range coverage {
		resp.Coverage = append(resp.Coverage, &pb.AuditCoverage{
			Kind: c.Kind, Node: s.b.Node, HeldSince: timestamppb.New(c.HeldSince), Evicted: c.Evicted, Dropped: c.Dropped, Capacity: uint32(c.Capacity),
		})
	}
	return resp, nil
}

func trailMessage(r *TrailRecord, node string) *pb.AuditRecord {
	e := &r.Event
	m := &pb.AuditRecord{
		Time: timestamppb.New(e.Time), Kind: r.Kind, Node: node,
		Workload: workloadMessage(&e.Workload, node), Process: processMessage(&e.Process),
	}
	switch {
	case e.Exec != nil:
		m.Exec = execMessage(e.Exec)
	case e.TCP != nil:
		c := &pb.Connection{Direction: e.TCP.Direction, RemotePeer: peerMessage(r.Peer)}
		if e.TCP.Local.IsValid() {
			c.LocalAddr, c.LocalPort = e.TCP.Local.Addr().String(), uint32(e.TCP.Local.Port())
		}
		if e.TCP.Remote.IsValid() {
			c.RemoteAddr, c.RemotePort = e.TCP.Remote.Addr().String(), uint32(e.TCP.Remote.Port())
		}
		m.Connection = c
	case e.Policy != nil:
		p := e.Policy
		m.Policy = &pb.PolicyMatch{Policy: p.Policy, Rule: uint32(p.Rule), Action: p.Action, Mode: p.Mode, Operation: p.Operation, Target: policyTarget(p)}
	case e.Anomaly != nil:
		m.Anomaly = &pb.Anomaly{Kind: e.Anomaly.Kind, Item: e.Anomaly.Item, Profile: e.Anomaly.Profile}
	}
	return m
}

// policyTarget is what a policy match was about, as one string.
func policyTarget(p *events.PolicyMatch) string {
	switch {
	case p.Path != "":
		return p.Path
	case p.Filename != "":
		return p.Filename
	case p.Address != "":
		a, err := netip.ParseAddr(p.Address)
		if err != nil {
			return p.Address + ":" + strconv.Itoa(int(p.Port))
		}
		return netip.AddrPortFrom(a, p.Port).String()
	}
	return p.Name
}
