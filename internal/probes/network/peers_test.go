package network

import (
	"net/netip"
	"testing"

	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

// ipNames stands in for the Kubernetes index (tested against a real API
// server in internal/kube; the cluster test runs the whole path).
type ipNames map[netip.Addr]api.Peer

func (m ipNames) NameIP(ip netip.Addr) (kind, namespace, name string) {
	p := m[ip.Unmap()]
	return p.Kind, p.Namespace, p.Name
}

// A connection to a Service address is listed with the Service's name, the
// endpoint NAT sent it to (from conntrack) and that endpoint's name.
func TestFlowsNameTheServiceAndItsBackend(t *testing.T) {
	f := start(t)
	ns := testutil.NewNATNamespace(t)
	service := api.Peer{Kind: probe.KindService, Namespace: "shop", Name: "cart"}
	backend := api.Peer{Kind: probe.KindPod, Namespace: "shop", Name: "cart-0"}
	f.probe.env.IPNames = ipNames{ns.Service.Addr(): service, ns.Backend.Addr(): backend}
	f.probe.nat.netns = int(ns.File.Fd())

	client, _ := ns.Connect(t, ns.Service)
	clientAddr := netip.MustParseAddrPort(client.LocalAddr().String())

	var out, in *api.Flow
	flows := f.probe.Flows()
	for i := range flows {
		switch fl := &flows[i]; {
		case fl.Local == clientAddr && fl.Remote == ns.Service:
			out = fl
		case fl.Local == ns.Backend && fl.Remote == clientAddr:
			in = fl
		}
	}
	if out == nil || in == nil {
		t.Fatalf("flows %+v: want %s -> %s and %s <- %s", flows, clientAddr, ns.Service, ns.Backend, clientAddr)
	}
	if out.RemotePeer != service || out.Backend != ns.Backend || out.BackendPeer != backend {
		t.Errorf("client's flow: remote %+v, backend %s %+v; want %+v, %s %+v", out.RemotePeer, out.Backend, out.BackendPeer, service, ns.Backend, backend)
	}
	// The server saw the client's own address: nothing to name or translate.
	if in.RemotePeer != (api.Peer{}) || in.Backend.IsValid() {
		t.Errorf("server's flow: remote %+v, backend %s; want neither", in.RemotePeer, in.Backend)
	}
}
