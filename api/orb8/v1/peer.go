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

// PeerName is the pod or Service of the request's other end, else its
// address; "" when neither is known (through TLS).
func (r *Request) PeerName() string {
	if s := r.GetPeer().Describe(); s != "" {
		return s
	}
	if r.GetPeerAddr() == "" {
		return ""
	}
	return net.JoinHostPort(r.GetPeerAddr(), strconv.FormatUint(uint64(r.GetPeerPort()), 10))
}

// ProtocolName is the request's protocol, with "+TLS" when it went through TLS.
// StatusText is the response's status code, with a gRPC call's status:
// "200 grpc=5".
func (r *Request) StatusText() string {
	s := strconv.FormatUint(uint64(r.GetStatusCode()), 10)
	if r.GrpcStatus != nil {
		s += " grpc=" + strconv.FormatUint(uint64(r.GetGrpcStatus()), 10)
	}
	return s
}

func (r *Request) ProtocolName() string {
	if r.GetTls() {
		return r.GetProtocol() + "+TLS"
	}
	return r.GetProtocol()
}
