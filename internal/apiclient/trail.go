package apiclient

import (
	"context"
	"errors"

	"google.golang.org/grpc"
	"google.golang.org/grpc/metadata"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// TrailClient reaches the audit trails of agents: one (Agent) or several
// (Multi, Cluster), whose records and coverage are put together. A hub
// keeps none.
type TrailClient interface {
	AuditTrail(ctx context.Context, req *pb.ListAuditTrailRequest) (*pb.ListAuditTrailResponse, error)
}

// AuditTrail implements TrailClient.
func (a *Agent) AuditTrail(ctx context.Context, req *pb.ListAuditTrailRequest) (*pb.ListAuditTrailResponse, error) {
	var tr metadata.MD
	resp, err := a.api.ListAuditTrail(ctx, req, grpc.Trailer(&tr))
	if resp == nil {
		resp = &pb.ListAuditTrailResponse{}
	}
	return resp, a.result(err, tr)
}

// AuditTrail implements TrailClient: every agent's records, each agent's
// oldest first, and every agent's coverage.
func (m *Multi) AuditTrail(ctx context.Context, req *pb.ListAuditTrailRequest) (*pb.ListAuditTrailResponse, error) {
	parts, err := gatherAll(m, func(c Client) (*pb.ListAuditTrailResponse, error) {
		tc, ok := c.(TrailClient)
		if !ok {
			return nil, errNoTrail
		}
		return tc.AuditTrail(ctx, req)
	})
	out := &pb.ListAuditTrailResponse{}
	for _, p := range parts {
		out.Records = append(out.Records, p.GetRecords()...)
		out.Coverage = append(out.Coverage, p.GetCoverage()...)
		out.Truncated += p.GetTruncated()
	}
	return out, err
}

var errNoTrail = errors.New("this client reaches no agent's audit trail")
