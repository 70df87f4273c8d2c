package conntrack

import (
	"net/netip"
	"syscall"
	"testing"

	"github.com/orb8/orb8/internal/testutil"
)

func TestDestinationOfTranslatedConnection(t *testing.T) {
	ns := testutil.NewNATNamespace(t)
	viaService, _ := ns.Connect(t, ns.Service)
	direct, _ := ns.Connect(t, ns.Backend)

	table, err := Open(int(ns.File.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer table.Close()

	local := netip.MustParseAddrPort(viaService.LocalAddr().String())
	got, ok, err := table.Destination(syscall.IPPROTO_TCP, local, ns.Service)
	if err != nil || !ok || got != ns.Backend {
		t.Errorf("Destination(%s -> %s) = %s, %v, %v; want %s", local, ns.Service, got, ok, err, ns.Backend)
	}

	// Not translated: the socket's destination is where it went.
	local = netip.MustParseAddrPort(direct.LocalAddr().String())
	if got, ok, err := table.Destination(syscall.IPPROTO_TCP, local, ns.Backend); err != nil || ok {
		t.Errorf("Destination(%s -> %s) = %s, %v, %v; want not translated", local, ns.Backend, got, ok, err)
	}

	// Unknown to conntrack: no error, nothing found.
	unknown := netip.MustParseAddrPort("198.18.7.9:1")
	if got, ok, err := table.Destination(syscall.IPPROTO_TCP, unknown, ns.Service); err != nil || ok {
		t.Errorf("Destination of an untracked connection = %s, %v, %v; want none", got, ok, err)
	}
}
