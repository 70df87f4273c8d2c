package network

import (
	"net/netip"
	"testing"

	"github.com/orb8/orb8/internal/testutil"
)

// A connection to a translated address (a Service's) is listed with the
// endpoint NAT sent it to, from conntrack; naming both is the agent's job
// (internal/agent/flows_test.go).
func TestFlowsFindTheBackendOfATranslatedAddress(t *testing.T) {
	f := start(t)
	ns := testutil.NewNATNamespace(t)
	f.probe.nat.NetNS = int(ns.File.Fd())

	client, _ := ns.Connect(t, ns.Service)
	clientAddr := netip.MustParseAddrPort(client.LocalAddr().String())

	var out, in *Flow
	flows, err := f.probe.Flows(func(ip netip.Addr) bool { return ip == ns.Service.Addr() })
	if err != nil {
		t.Fatal(err)
	}
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
	if out.Backend != ns.Backend {
		t.Errorf("client's flow: backend %s; want %s", out.Backend, ns.Backend)
	}
	// The server saw the client's own address: nothing to translate.
	if in.Backend.IsValid() {
		t.Errorf("server's flow: backend %s; want none", in.Backend)
	}
}
