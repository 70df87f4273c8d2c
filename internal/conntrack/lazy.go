package conntrack

import (
	"log/slog"
	"net/netip"
	"sync"
)

// Lazy is a Table opened on its first lookup, for a probe that may never
// need one. A table that cannot be opened and the first failed lookup are
// logged; lookups then answer nothing.
type Lazy struct {
	NetNS int          // the namespace whose table is read: 0 for the caller's
	Log   *slog.Logger // nil: nothing logged

	mu     sync.Mutex
	opened bool
	table  *Table
	failed bool // a lookup failed and was reported: report no more
}

// Destination is Table.Destination on the table, opened if need be; the
// zero AddrPort when the connection was not translated or is not known.
func (l *Lazy) Destination(proto uint8, local, remote netip.AddrPort) netip.AddrPort {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.opened {
		l.opened = true
		t, err := Open(l.NetNS)
		if err != nil {
			l.warn("conntrack table not readable: translated addresses (Services) are not followed", err)
		}
		l.table = t
	}
	if l.table == nil {
		return netip.AddrPort{}
	}
	dest, _, err := l.table.Destination(proto, local, remote)
	if err != nil && !l.failed {
		l.failed = true
		l.warn("conntrack lookup failed; later failures are not reported", err)
	}
	return dest
}

// Close releases the table; a later lookup opens it again.
func (l *Lazy) Close() {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.table != nil {
		l.table.Close()
	}
	l.table, l.opened, l.failed = nil, false, false
}

func (l *Lazy) warn(msg string, err error) {
	if l.Log != nil {
		l.Log.Warn(msg, "err", err)
	}
}
