// Package apiclient reaches orb8 agents: one over gRPC (--agent), or every
// agent of a cluster through the Kubernetes API server's pod proxy
// (--all-nodes). Commands and the terminal UI use the Client interface.
package apiclient

import (
	"context"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// Client is what orb8's commands ask of agents. With several agents, the
// lists are merged (workloads carry their node) and limits apply to the merge.
type Client interface {
	Statuses(ctx context.Context) ([]*pb.Status, error)
	Workloads(ctx context.Context, req *pb.ListWorkloadsRequest) ([]*pb.WorkloadFigures, error)
	Flows(ctx context.Context, req *pb.ListFlowsRequest) ([]*pb.Flow, error)
	DNS(ctx context.Context, req *pb.ListDNSRequest) ([]*pb.DNSQuery, error)
	Requests(ctx context.Context, req *pb.ListRequestsRequest) ([]*pb.Request, error)
	// Processes lists a workload's processes on its node ("" with one agent).
	Processes(ctx context.Context, node, cgroup string) ([]*pb.Process, error)
	GPUs(ctx context.Context) ([]*pb.GPU, error)
	// Watch calls fn for each event and drop report until ctx ends, the
	// stream fails, or fn returns an error.
	Watch(ctx context.Context, req *pb.WatchEventsRequest, fn func(*pb.WatchEventsResponse) error) error
	Close() error
}
