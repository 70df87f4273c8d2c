package api

import (
	"context"
	"net/netip"
	"sort"
	"time"

	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/cgroup"
)

// RequestSource is each workload's notable recent HTTP requests, bounded
// by the HTTP probe (at most 8 slowest and 8 failing per workload), which
// the agent adapts. The API filters, sorts and limits.
type RequestSource interface {
	Requests() []Request
}

// Request is one HTTP request of a workload and its response.
type Request struct {
	Workload cgroup.Workload
	Time     time.Time // the request's first byte
	// Failing: among the workload's most recent failing requests (status
	// 500 and up, a failing gRPC status), else among its slowest.
	Failing       bool
	Direction     string // "server" or "client"
	Method        string
	Path          string
	PathTruncated bool
	Status        int
	Latency       time.Duration
	Peer          netip.AddrPort // invalid through TLS
	PeerName      Peer
	Protocol      string
	TLS           bool
	// GRPC: a gRPC call, which ended with GRPCStatus.
	GRPC       bool
	GRPCStatus int
}

// Kinds of ListRequests.
const (
	RequestsSlowest = "slowest"
	RequestsFailing = "failing"
)

// ListRequests implements pb.AgentServer: the slowest first, or the failing
// newest first.
func (s *Service) ListRequests(ctx context.Context, req *pb.ListRequestsRequest) (*pb.ListRequestsResponse, error) {
	keep, err := s.filter(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	failing := false
	switch req.GetKind() {
	case "", RequestsSlowest:
	case RequestsFailing:
		failing = true
	default:
		return nil, status.Errorf(codes.InvalidArgument, "kind %q: want %s or %s", req.GetKind(), RequestsSlowest, RequestsFailing)
	}
	resp := &pb.ListRequestsResponse{}
	if s.b.Requests == nil {
		return resp, nil
	}
	var reqs []Request
	for _, r := range s.b.Requests.Requests() {
		if r.Failing == failing && keep.matchWorkload(&r.Workload) {
			reqs = append(reqs, r)
		}
	}
	if err := visible(keep, len(reqs)); err != nil {
		return nil, err
	}
	if failing {
		sort.SliceStable(reqs, func(i, j int) bool { return reqs[i].Time.After(reqs[j].Time) })
	} else {
		sort.SliceStable(reqs, func(i, j int) bool { return reqs[i].Latency > reqs[j].Latency })
	}
	reqs, resp.Truncated = limit(reqs, req.GetLimit())
	for i := range reqs {
		resp.Requests = append(resp.Requests, requestMessage(&reqs[i], s.b.Node))
	}
	return resp, nil
}

func requestMessage(r *Request, node string) *pb.Request {
	m := &pb.Request{
		Workload: workloadMessage(&r.Workload, node), Time: timestamppb.New(r.Time),
		Direction: r.Direction, Method: r.Method, Path: r.Path, PathTruncated: r.PathTruncated,
		StatusCode: uint32(r.Status), LatencySeconds: r.Latency.Seconds(),
		Peer: peerMessage(r.PeerName), Protocol: r.Protocol, Tls: r.TLS,
	}
	if r.Peer.IsValid() {
		m.PeerAddr, m.PeerPort = r.Peer.Addr().String(), uint32(r.Peer.Port())
	}
	if r.GRPC {
		m.GrpcStatus = proto.Uint32(uint32(r.GRPCStatus))
	}
	return m
}
