package hub

import (
	"context"
	"fmt"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/kube"
)

// maxMemberAddresses bounds each member's address index: Kubernetes
// supports at most 150,000 pods and 10,000 Services a cluster; a full index
// holds about 90 MB (344 bytes an address, BenchmarkAddressIndexFull),
// beside the informers' trimmed objects.
const maxMemberAddresses = 1 << 18

// maxOverlapExamples is how many addresses an overlap names.
const maxOverlapExamples = 5

// addressBook indexes the pod and Service addresses of every member with a
// kubeconfig, so that a flow's remote address is named after the member
// that owns it.
type addressBook struct {
	log     *slog.Logger // members' API server outages
	mu      sync.RWMutex
	members map[string]*memberAddresses // by member name

	overlapMu sync.Mutex
	overlapAt string // the members and index versions overlap was computed at
	overlap   []*pb.AddressOverlap
}

type memberAddresses struct {
	source  string // kubeconfig and context: a member that keeps them keeps its watcher
	watcher *kube.AddressWatcher
	err     error
}

func sourceOf(m Member) string { return m.Kubeconfig + "\x00" + m.Context }

// update watches the members of a new configuration: new ones start, gone
// or changed ones stop, ones that could not start try again, the rest keep
// their index.
func (b *addressBook) update(ctx context.Context, members []Member) {
	next := map[string]*memberAddresses{}
	b.mu.RLock()
	for _, m := range members {
		if m.Kubeconfig == "" {
			continue
		}
		if old := b.members[m.Name]; old != nil && old.source == sourceOf(m) && old.err == nil {
			next[m.Name] = old
			continue
		}
		next[m.Name] = watchAddresses(ctx, m, b.log.With("cluster", m.Name))
	}
	b.mu.RUnlock()
	b.mu.Lock()
	old := b.members
	b.members = next
	b.mu.Unlock()
	for name, o := range old {
		if next[name] != o && o.watcher != nil {
			o.watcher.Close()
		}
	}
}

func watchAddresses(ctx context.Context, m Member, log *slog.Logger) *memberAddresses {
	ma := &memberAddresses{source: sourceOf(m)}
	cfg, err := apiclient.KubeRESTConfig(m.Kubeconfig, m.Context)
	if err == nil {
		ma.watcher, err = kube.NewAddressWatcher(cfg, maxMemberAddresses, log)
	}
	if err != nil {
		ma.err = err
		return ma
	}
	ma.watcher.Start(ctx)
	return ma
}

func (b *addressBook) close() {
	b.update(context.Background(), nil)
}

// claim is a member's owner of an address.
type claim struct {
	cluster string
	owner   kube.Owner
}

// lookup is every member's owner of ip, in no order.
func (b *addressBook) lookup(ip netip.Addr) []claim {
	b.mu.RLock()
	defer b.mu.RUnlock()
	var claims []claim
	for name, m := range b.members {
		if m.watcher == nil {
			continue
		}
		if o, ok := m.watcher.Lookup(ip); ok {
			claims = append(claims, claim{name, o})
		}
	}
	return claims
}

// nameFlow says whose a flow's remote and backend addresses are across the
// fleet. A peer its agent named keeps that name, in the agent's member; an
// address that one member owns is named after it; an address that several
// members own (overlapping CIDRs) is named after none, and the flow lists
// them.
func (b *addressBook) nameFlow(f *pb.Flow) {
	from := f.GetWorkload().GetCluster()
	f.RemotePeer, f.RemoteOverlap = b.name(from, f.GetRemotePeer(), f.GetRemoteAddr())
	if f.GetBackendAddr() != "" {
		f.BackendPeer, _ = b.name(from, f.GetBackendPeer(), f.GetBackendAddr())
	}
}

// nameRequest says whose a request's peer address is, as nameFlow does.
func (b *addressBook) nameRequest(r *pb.Request) {
	r.Peer, _ = b.name(r.GetWorkload().GetCluster(), r.GetPeer(), r.GetPeerAddr())
}

func (b *addressBook) name(from string, known *pb.Peer, addr string) (*pb.Peer, []string) {
	if known.GetKind() != "" {
		known.Cluster = from
		return known, nil
	}
	ip, err := netip.ParseAddr(addr)
	if err != nil {
		return known, nil
	}
	claims := b.lookup(ip)
	switch len(claims) {
	case 0:
		return known, nil
	case 1:
		o := claims[0].owner
		return &pb.Peer{Kind: o.Kind, Namespace: o.Namespace, Name: o.Name, Cluster: claims[0].cluster}, nil
	}
	clusters := make([]string, len(claims))
	for i, c := range claims {
		clusters[i] = c.cluster
	}
	slices.Sort(clusters)
	return known, clusters
}

// status is the index's state for the hub's GetStatus; nil when no member
// has a kubeconfig.
func (b *addressBook) status() *pb.AddressIndex {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if len(b.members) == 0 {
		return nil
	}
	names := make([]string, 0, len(b.members))
	for name := range b.members {
		names = append(names, name)
	}
	slices.Sort(names)
	out := &pb.AddressIndex{}
	versions := make([]uint64, 0, len(names))
	for _, name := range names {
		m := b.members[name]
		s := &pb.AddressIndexMember{Cluster: name}
		if m.err != nil {
			s.Error = m.err.Error()
		} else {
			n, dropped, version := m.watcher.Stats()
			s.Addresses, s.Dropped, s.Synced = uint64(n), dropped, m.watcher.Synced()
			versions = append(versions, version)
		}
		out.Members = append(out.Members, s)
	}
	out.Overlaps = b.overlaps(names, versions)
	return out
}

// overlaps groups the addresses known in several members by the set of
// those members. It reads every member's whole index, so it runs again
// only once an index changed. b.mu is held for reading.
func (b *addressBook) overlaps(names []string, versions []uint64) []*pb.AddressOverlap {
	b.overlapMu.Lock()
	defer b.overlapMu.Unlock()
	at := fmt.Sprint(names, versions)
	if at == b.overlapAt {
		return b.overlap
	}
	owners := map[netip.Addr][]string{}
	for _, name := range names {
		if w := b.members[name].watcher; w != nil {
			w.Range(func(ip netip.Addr, _ kube.Owner) { owners[ip] = append(owners[ip], name) })
		}
	}
	type group struct {
		overlap *pb.AddressOverlap
		ips     []netip.Addr
	}
	groups := map[string]*group{}
	for ip, clusters := range owners {
		if len(clusters) < 2 {
			continue
		}
		key := strings.Join(clusters, ",") // sorted, as names is
		g := groups[key]
		if g == nil {
			g = &group{overlap: &pb.AddressOverlap{Clusters: clusters}}
			groups[key] = g
		}
		g.ips = append(g.ips, ip)
	}
	var out []*pb.AddressOverlap
	for _, g := range groups {
		slices.SortFunc(g.ips, netip.Addr.Compare)
		g.overlap.Addresses = uint64(len(g.ips))
		for _, ip := range g.ips[:min(len(g.ips), maxOverlapExamples)] {
			g.overlap.Examples = append(g.overlap.Examples, ip.String())
		}
		out = append(out, g.overlap)
	}
	slices.SortFunc(out, func(x, y *pb.AddressOverlap) int {
		return slices.Compare(x.Clusters, y.Clusters)
	})
	b.overlap, b.overlapAt = out, at
	return out
}
