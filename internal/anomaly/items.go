package anomaly

import (
	"net/netip"
	"strconv"
	"strings"

	"golang.org/x/net/publicsuffix"
)

// fanOut is how many addresses of one block (an IPv4 /24, an IPv6 /64) on
// one port a profile learns one by one; past it the block replaces them, so
// a client of a large pool of servers learns the pool.
const fanOut = 8

// maxItemLen bounds one item: an exec path is at most PATH_MAX.
const maxItemLen = 4096

// Binary is the item of an executed program: its path.
func Binary(path string) string { return path }

// Lineage is the item of a parent program executing a child one, both
// paths; "" when either is unknown.
func Lineage(parent, child string) string {
	if parent == "" || child == "" {
		return ""
	}
	return parent + " -> " + child
}

// Address is the item of a peer known only by its address and port.
func Address(ap netip.AddrPort) string {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port()).String()
}

// Named is the item of a peer the cluster names: KIND:NAMESPACE/NAME:PORT,
// kind "service" or the owning controller's kind in lower case.
func Named(kind, namespace, name string, port uint16) string {
	return strings.ToLower(kind) + ":" + namespace + "/" + name + ":" + strconv.Itoa(int(port))
}

// Domain is the item of a DNS lookup: the registered domain of the name
// (the public suffix and one label more, "example.co.uk"), lower case;
// the name itself when it has none (a single label, a suffix).
func Domain(qname string) string {
	name := strings.ToLower(strings.TrimSuffix(qname, "."))
	if d, err := publicsuffix.EffectiveTLDPlusOne(name); err == nil {
		return d
	}
	return name
}

// ListenPort is the item of a port the workload accepted a connection on.
func ListenPort(protocol string, port uint16) string {
	return protocol + "/" + strconv.Itoa(int(port))
}

// blockOf is the block item that covers an address item: "" for any
// other item.
func blockOf(item string) string {
	ap, err := netip.ParseAddrPort(item)
	if err != nil {
		return ""
	}
	bits := 24
	if ap.Addr().Is6() {
		bits = 64
	}
	p, err := ap.Addr().Prefix(bits)
	if err != nil {
		return ""
	}
	port := strconv.Itoa(int(ap.Port()))
	if ap.Addr().Is6() {
		return "[" + p.String() + "]:" + port
	}
	return p.String() + ":" + port
}
