package agent

import (
	"net/netip"
	"testing"

	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/kube"
	"github.com/orb8/orb8/internal/probes/network"
)

// ipNames stands in for the Kubernetes index (tested against a real API
// server in internal/kube; the cluster test runs the whole path, and the
// network probe's tests find backends through a real conntrack table).
type ipNames map[netip.Addr]api.Peer

func (m ipNames) NameIP(ip netip.Addr) (kind, namespace, name string) {
	p := m[ip.Unmap()]
	return p.Kind, p.Namespace, p.Name
}

// A connection to a Service address is listed with the Service's name, the
// endpoint NAT sent it to and that endpoint's name.
func TestFlowsNameTheServiceAndItsBackend(t *testing.T) {
	svc, backend := netip.MustParseAddrPort("10.96.0.10:80"), netip.MustParseAddrPort("10.244.0.7:8080")
	clientAddr := netip.MustParseAddrPort("10.244.0.5:40000")
	service := api.Peer{Kind: kube.KindService, Namespace: "shop", Name: "cart"}
	backendPeer := api.Peer{Kind: kube.KindPod, Namespace: "shop", Name: "cart-0"}
	names := ipNames{svc.Addr(): service, backend.Addr(): backendPeer}

	out := apiFlow(&network.Flow{Local: clientAddr, Remote: svc, Backend: backend}, names)
	if out.RemotePeer != service || out.Backend != backend || out.BackendPeer != backendPeer {
		t.Errorf("client's flow: remote %+v, backend %s %+v; want %+v, %s %+v", out.RemotePeer, out.Backend, out.BackendPeer, service, backend, backendPeer)
	}
	// The server saw the client's own address: nothing to name or translate.
	in := apiFlow(&network.Flow{Local: backend, Remote: clientAddr}, names)
	if in.RemotePeer != (api.Peer{}) || in.Backend.IsValid() {
		t.Errorf("server's flow: remote %+v, backend %s; want neither", in.RemotePeer, in.Backend)
	}
	// Standalone, nothing is named.
	if alone := apiFlow(&network.Flow{Local: clientAddr, Remote: svc, Backend: backend}, nil); alone.RemotePeer != (api.Peer{}) || alone.Backend.IsValid() {
		t.Errorf("without Kubernetes: remote %+v, backend %s; want neither", alone.RemotePeer, alone.Backend)
	}
}
