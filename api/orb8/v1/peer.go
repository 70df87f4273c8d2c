package orb8v1

import (
	"net"
	"strconv"
)

// Describe names the object as "<kind> <namespace>/<name>", or
// "<kind> <cluster>/<namespace>/<name>" when a hub named its cluster; ""
// when unknown.
func (p *Peer) Describe() string {
	if p.GetKind() == "" {
		return ""
	}
	return p.GetKind() + " " + p.Path()
}

// Path is "<namespace>/<name>", or "<cluster>/<namespace>/<name>" when a
// hub named its cluster.
func (p *Peer) Path() string {
	path := p.GetNamespace() + "/" + p.GetName()
	if c := p.GetCluster(); c != "" {
		return c + "/" + path
	}
	return path
}

// PeerName says whose the flow's remote address is and, when the
// connection was translated (a Service IP), where it went: "service
// shop/cart -> pod shop/cart-0", or the endpoint's address when it is not
// named. "" when the agent knows neither.
func (f *Flow) PeerName() string {
	s := f.GetRemotePeer().Describe()
	if f.GetBackendAddr() == "" {
		return s
	}
	backend := f.GetBackendPeer().Describe()
	if backend == "" {
		backend = net.JoinHostPort(f.GetBackendAddr(), strconv.FormatUint(uint64(f.GetBackendPort()), 10))
	}
	if s == "" {
		return "-> " + backend
	}
	return s + " -> " + backend
}
