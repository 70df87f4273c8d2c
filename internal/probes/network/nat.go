package network

import (
	"net/netip"
	"sync"
	"syscall"

	"github.com/orb8/orb8/internal/conntrack"
)

// natTable is the conntrack table of the agent's network namespace (the
// node's, as the DaemonSet runs with hostNetwork), opened on the first
// listing of flows that needs it; nil when it cannot be opened.
type natTable struct {
	netns  int // the namespace whose table is read: 0 for the agent's own
	mu     sync.Mutex
	opened bool
	table  *conntrack.Table
	failed bool // a lookup failed and was logged: log no more
}

// destination is conntrack.Table.Destination on the table, opened if need be.
func (n *natTable) destination(p *Probe, f *Flow) netip.AddrPort {
	n.mu.Lock()
	defer n.mu.Unlock()
	if !n.opened {
		n.opened = true
		t, err := conntrack.Open(n.netns)
		if err != nil {
			p.warn("Service backends of flows are not reported", err)
		}
		n.table = t
	}
	if n.table == nil {
		return netip.AddrPort{}
	}
	dest, _, err := n.table.Destination(syscall.IPPROTO_TCP, f.Local, f.Remote)
	if err != nil && !n.failed {
		n.failed = true
		p.warn("conntrack lookup failed; later failures are not logged", err)
	}
	return dest
}

// close releases the table; a later listing opens it again.
func (n *natTable) close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.table != nil {
		n.table.Close()
	}
	n.table, n.opened, n.failed = nil, false, false
}

func (p *Probe) warn(msg string, err error) {
	if p.env.Log != nil {
		p.env.Log.Warn(msg, "err", err)
	}
}
