// Package conntrack tells where network address translation sent a
// connection, from the kernel's connection tracking table over netlink.
//
// A socket that connects to a Kubernetes Service sees the ClusterIP; the
// endpoint kube-proxy chose is known only to conntrack (the DNAT happens in
// the node's network namespace, after the pod's packets left it). The agent
// asks once per connection, when flows are listed: never per packet.
package conntrack

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"

	"github.com/mdlayher/netlink"
	ct "github.com/ti-mo/conntrack"
)

// Table queries one network namespace's conntrack table.
type Table struct {
	mu   sync.Mutex // a netlink socket serves one request at a time
	conn *ct.Conn
}

// Open connects to the conntrack table of the network namespace netnsFD
// refers to, or of the caller's when netnsFD is 0. It needs CAP_NET_ADMIN
// in that namespace.
func Open(netnsFD int) (*Table, error) {
	conn, err := ct.Dial(&netlink.Config{NetNS: netnsFD})
	if err != nil {
		return nil, fmt.Errorf("conntrack netlink: %w", err)
	}
	return &Table{conn: conn}, nil
}

// Close releases the netlink socket.
func (t *Table) Close() error { return t.conn.Close() }

// Destination returns the address a connection from local to remote (as the
// socket saw them) was really sent to: the source of its reply direction.
// ok is false when the table holds no such connection (it was never tracked,
// or has expired) or its destination was not translated.
func (t *Table) Destination(proto uint8, local, remote netip.AddrPort) (dest netip.AddrPort, ok bool, err error) {
	var q ct.Flow
	q.TupleOrig = ct.Tuple{
		IP:    ct.IPTuple{SourceAddress: local.Addr().Unmap(), DestinationAddress: remote.Addr().Unmap()},
		Proto: ct.ProtoTuple{Protocol: proto, SourcePort: local.Port(), DestinationPort: remote.Port()},
	}
	t.mu.Lock()
	f, err := t.conn.Get(q)
	t.mu.Unlock()
	if errors.Is(err, syscall.ENOENT) {
		return netip.AddrPort{}, false, nil
	}
	if err != nil {
		return netip.AddrPort{}, false, fmt.Errorf("conntrack get %s -> %s: %w", local, remote, err)
	}
	reply := f.TupleReply
	dest = netip.AddrPortFrom(reply.IP.SourceAddress, reply.Proto.SourcePort)
	if dest == netip.AddrPortFrom(remote.Addr().Unmap(), remote.Port()) {
		return netip.AddrPort{}, false, nil
	}
	return dest, true, nil
}
