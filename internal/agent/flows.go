package agent

import (
	"log/slog"
	"net/netip"

	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/kube"
	"github.com/orb8/orb8/internal/probes/network"
)

// ipNamer names the Kubernetes object that owns an address (kube.Index).
type ipNamer interface {
	NameIP(ip netip.Addr) (kind, namespace, name string)
}

// flowSource serves the network probe's flows to the API, their peers named
// by the Kubernetes index (names is nil without Kubernetes: then no address
// is known to be a Service's, and nothing is named or translated).
type flowSource struct {
	p     *runningProbe
	net   *network.Probe
	names ipNamer
	log   *slog.Logger
}

// Flows implements api.FlowSource.
func (s flowSource) Flows() []api.Flow {
	if !s.p.running() {
		return nil
	}
	var translated func(netip.Addr) bool
	if s.names != nil {
		translated = func(ip netip.Addr) bool {
			kind, _, _ := s.names.NameIP(ip)
			return kind == kube.KindService
		}
	}
	flows, err := s.net.Flows(translated)
	if err != nil {
		s.log.Warn("flow table: open connections not refreshed", "err", err)
	}
	out := make([]api.Flow, len(flows))
	for i := range flows {
		out[i] = apiFlow(&flows[i], s.names)
	}
	return out
}

// apiFlow is f as the API has it, with its remote address and backend named.
func apiFlow(f *network.Flow, names ipNamer) api.Flow {
	out := api.Flow{
		Workload: f.Workload, Process: f.Process, Protocol: f.Protocol, Direction: f.Direction,
		Local: f.Local, Remote: f.Remote, Traffic: f.Traffic, LastSeen: f.LastSeen,
	}
	if names == nil {
		return out
	}
	out.RemotePeer = peerOf(names, f.Remote.Addr())
	if f.Backend.IsValid() {
		out.Backend, out.BackendPeer = f.Backend, peerOf(names, f.Backend.Addr())
	}
	return out
}

func peerOf(names ipNamer, ip netip.Addr) api.Peer {
	kind, ns, name := names.NameIP(ip)
	return api.Peer{Kind: kind, Namespace: ns, Name: name}
}
