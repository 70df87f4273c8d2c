package agent

import (
	"github.com/orb8/orb8/internal/api"
	"github.com/orb8/orb8/internal/probes/http"
)

// requestSource serves the HTTP probe's notable requests to the API, their
// peers named by the Kubernetes index (names is nil without Kubernetes).
type requestSource struct {
	p     *runningProbe
	http  *http.Probe
	names ipNamer
}

// Requests implements api.RequestSource.
func (s requestSource) Requests() []api.Request {
	if !s.p.running() {
		return nil
	}
	notable := s.http.NotableRequests()
	out := make([]api.Request, len(notable))
	for i := range notable {
		out[i] = apiRequest(&notable[i], s.names)
	}
	return out
}

// apiRequest is r as the API has it, with its peer named.
func apiRequest(r *http.NotableRequest, names ipNamer) api.Request {
	d := &r.HTTP
	out := api.Request{
		Workload: r.Workload, Time: r.Time, Failing: r.Failing,
		Direction: d.Direction, Method: d.Method, Path: d.Path, PathTruncated: d.PathTruncated,
		Status: d.Status, Latency: d.Latency, Peer: d.Peer, Protocol: d.Protocol, TLS: d.TLS,
		GRPC: d.GRPC, GRPCStatus: d.GRPCStatus,
	}
	if names != nil && d.Peer.IsValid() {
		out.PeerName = peerOf(names, d.Peer.Addr())
	}
	return out
}
