package hub

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/encoded"
	"github.com/orb8/orb8/internal/tick"
	"github.com/orb8/orb8/internal/version"
)

// Hub serves the agent API for the whole fleet its configuration file
// lists. It implements pb.AgentServer, so api.Listen serves it with the
// agent API's authentication, limits and TLS.
type Hub struct {
	pb.UnimplementedAgentServer
	path    string
	log     *slog.Logger
	started time.Time

	mu      sync.RWMutex
	members []labelled
	loaded  fileStamp // of the configuration in use

	addresses addressBook

	// The event streams' sort buffer (Options.SortWindow, SortBuffer).
	sortWindow time.Duration
	sortBuffer int
}

// fileStamp tells a changed file from the one loaded.
type fileStamp struct {
	mod  time.Time
	size int64
}

func stampOf(path string) (fileStamp, error) {
	fi, err := os.Stat(path)
	if err != nil {
		return fileStamp{}, err
	}
	return fileStamp{fi.ModTime(), fi.Size()}, nil
}

// New loads the configuration at path and reaches its members; a bad file
// is an error here, while a member that cannot be reached is named in the
// answers that lack it.
func New(ctx context.Context, path string, log *slog.Logger) (*Hub, error) {
	h := &Hub{path: path, log: log, started: time.Now(), addresses: addressBook{log: log}}
	if err := h.reload(ctx); err != nil {
		return nil, err
	}
	return h, nil
}

// Watch reloads the configuration whenever its file changes, checking every
// interval, until ctx ends or stop is called. A file that does not parse
// keeps the fleet as it was (and says why in the log).
func (h *Hub) Watch(ctx context.Context, interval time.Duration) (stop func()) {
	return tick.Every(ctx, interval, func(time.Time) {
		st, err := stampOf(h.path)
		h.mu.RLock()
		same := st == h.loaded
		h.mu.RUnlock()
		if err != nil || same {
			return
		}
		if err := h.reload(ctx); err != nil {
			h.log.Error("hub configuration not applied", "err", err)
		}
	})
}

func (h *Hub) reload(ctx context.Context) error {
	st, err := stampOf(h.path)
	if err != nil {
		return fmt.Errorf("hub config: %w", err)
	}
	cfg, err := LoadConfig(h.path)
	if err != nil {
		h.mu.Lock()
		h.loaded = st // not again until it changes
		h.mu.Unlock()
		return err
	}
	members := make([]labelled, len(cfg.Clusters))
	for i, m := range cfg.Clusters {
		members[i] = connect(ctx, m).(labelled)
	}
	h.addresses.update(ctx, cfg.Clusters)
	h.mu.Lock()
	old := h.members
	h.members, h.loaded = members, st
	h.mu.Unlock()
	for _, m := range old {
		m.Close()
	}
	names := make([]string, len(members))
	for i, m := range members {
		names[i] = m.m.Name
	}
	h.log.Info("hub fleet", "members", names)
	return nil
}

// Close releases every member's connections.
func (h *Hub) Close() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	var errs []error
	for _, m := range h.members {
		errs = append(errs, m.Close())
	}
	h.members = nil
	h.addresses.close()
	return errors.Join(errs...)
}

// fleet is a client of the members a filter names (every member when it
// names none).
func (h *Hub) fleet(f *pb.WorkloadFilter) (*apiclient.Multi, error) {
	h.mu.RLock()
	defer h.mu.RUnlock()
	var chosen []apiclient.Client
	for _, m := range h.members {
		if c := f.GetCluster(); c == "" || c == m.m.Name {
			chosen = append(chosen, m)
		}
	}
	if len(chosen) == 0 {
		if c := f.GetCluster(); c != "" {
			return nil, status.Errorf(codes.NotFound, "no fleet member %q", c)
		}
		return nil, status.Error(codes.FailedPrecondition, "the hub's configuration lists no member")
	}
	return apiclient.NewMulti(chosen...).KeepStreams().Sorted(h.sortWindow, h.sortBuffer), nil
}

// answer sends a partial err's unanswered members in the call's trailer
// with the rest's answer; when nothing answered, the call fails.
func answer[T any](ctx context.Context, v T, err error) (T, error) {
	if err == nil || apiclient.IsPartial(err) {
		return v, apiclient.SetUnanswered(ctx, err)
	}
	var zero T
	if _, ok := status.FromError(err); ok {
		return zero, err
	}
	return zero, status.Error(codes.Unavailable, err.Error())
}

// GetStatus implements pb.AgentServer: the hub's own, with every agent's
// and its index of the members' addresses.
func (h *Hub) GetStatus(ctx context.Context, _ *pb.GetStatusRequest) (*pb.Status, error) {
	fleet, err := h.fleet(nil)
	if err != nil {
		return nil, err
	}
	agents, err := fleet.Statuses(ctx)
	return answer(ctx, &pb.Status{Node: "hub", Version: version.String(), Started: timestamppb.New(h.started), Agents: agents,
		AddressIndex: h.addresses.status()}, err)
}

// ListWorkloads implements pb.AgentServer: EncodedWorkloads' answer,
// decoded, for callers in this process.
func (h *Hub) ListWorkloads(ctx context.Context, req *pb.ListWorkloadsRequest) (*pb.ListWorkloadsResponse, error) {
	m, err := h.EncodedWorkloads(ctx, req)
	if err != nil {
		return nil, err
	}
	resp := &pb.ListWorkloadsResponse{}
	for _, p := range *m {
		if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(p, resp); err != nil {
			return nil, status.Error(codes.Internal, err.Error())
		}
	}
	return resp, nil
}

// EncodedWorkloads implements encoded.WorkloadsServer, which the API
// server calls for ListWorkloads: the agents' answers are passed on as
// they came, each workload labelled with its member at the wire level,
// so that the hub neither decodes nor encodes them.
func (h *Hub) EncodedWorkloads(ctx context.Context, req *pb.ListWorkloadsRequest) (*encoded.Message, error) {
	fleet, err := h.fleet(req.GetFilter())
	if err != nil {
		return nil, err
	}
	parts, err := fleet.EncodedWorkloads(ctx, memberRequest(req).(*pb.ListWorkloadsRequest))
	parts, lerr := encoded.LimitWorkloads(parts, int(req.GetLimit()))
	if lerr != nil {
		return nil, status.Error(codes.Internal, lerr.Error())
	}
	return answer(ctx, &parts, err)
}

// ListFlows implements pb.AgentServer: each flow's peers named across the
// fleet.
func (h *Hub) ListFlows(ctx context.Context, req *pb.ListFlowsRequest) (*pb.ListFlowsResponse, error) {
	fleet, err := h.fleet(req.GetFilter())
	if err != nil {
		return nil, err
	}
	fs, err := fleet.Flows(ctx, memberRequest(req).(*pb.ListFlowsRequest))
	for _, f := range fs {
		h.addresses.nameFlow(f)
	}
	return answer(ctx, &pb.ListFlowsResponse{Flows: fs}, err)
}

// ListDNS implements pb.AgentServer.
func (h *Hub) ListDNS(ctx context.Context, req *pb.ListDNSRequest) (*pb.ListDNSResponse, error) {
	fleet, err := h.fleet(req.GetFilter())
	if err != nil {
		return nil, err
	}
	qs, err := fleet.DNS(ctx, memberRequest(req).(*pb.ListDNSRequest))
	return answer(ctx, &pb.ListDNSResponse{Queries: qs}, err)
}

// ListRequests implements pb.AgentServer: each request's peer named across
// the fleet.
func (h *Hub) ListRequests(ctx context.Context, req *pb.ListRequestsRequest) (*pb.ListRequestsResponse, error) {
	fleet, err := h.fleet(req.GetFilter())
	if err != nil {
		return nil, err
	}
	rs, err := fleet.Requests(ctx, memberRequest(req).(*pb.ListRequestsRequest))
	for _, r := range rs {
		h.addresses.nameRequest(r)
	}
	return answer(ctx, &pb.ListRequestsResponse{Requests: rs}, err)
}

// ListAuditTrail implements pb.AgentServer: every member's agents' trails.
func (h *Hub) ListAuditTrail(ctx context.Context, req *pb.ListAuditTrailRequest) (*pb.ListAuditTrailResponse, error) {
	fleet, err := h.fleet(req.GetFilter())
	if err != nil {
		return nil, err
	}
	resp, err := fleet.AuditTrail(ctx, memberRequest(req).(*pb.ListAuditTrailRequest))
	return answer(ctx, resp, err)
}

// ListProcesses implements pb.AgentServer: every agent is asked, as a
// cgroup path says nothing of its node.
func (h *Hub) ListProcesses(ctx context.Context, req *pb.ListProcessesRequest) (*pb.ListProcessesResponse, error) {
	fleet, err := h.fleet(nil)
	if err != nil {
		return nil, err
	}
	ps, err := fleet.Processes(ctx, "", req.GetCgroup())
	return answer(ctx, &pb.ListProcessesResponse{Processes: ps}, err)
}

// ListGPUs implements pb.AgentServer.
func (h *Hub) ListGPUs(ctx context.Context, _ *pb.ListGPUsRequest) (*pb.ListGPUsResponse, error) {
	fleet, err := h.fleet(nil)
	if err != nil {
		return nil, err
	}
	gs, err := fleet.GPUs(ctx)
	return answer(ctx, &pb.ListGPUsResponse{Gpus: gs}, err)
}

// WatchEvents implements pb.AgentServer: every agent's stream, merged in
// the order events happened (within the sort window), in batches when the
// client asks for them.
func (h *Hub) WatchEvents(req *pb.WatchEventsRequest, srv grpc.ServerStreamingServer[pb.WatchEventsResponse]) error {
	fleet, err := h.fleet(req.GetFilter())
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(srv.Context())
	defer cancel()
	send := srv.Send
	var batches *batcher
	if req.GetBatch() {
		batches = newBatcher(srv.Send, batchLag, cancel)
		send = batches.add
	}
	err = fleet.Watch(ctx, memberRequest(req).(*pb.WatchEventsRequest), send)
	if batches != nil {
		// A failed send is Watch's error too; a client gone needs no word.
		if cerr := batches.close(); err == nil && srv.Context().Err() == nil {
			err = cerr
		}
	}
	_, err = answer(srv.Context(), struct{}{}, err)
	return err
}

// memberRequest is req for the members' agents: a copy without the cluster
// filter, which the hub applied by choosing members (agents refuse it).
func memberRequest(req proto.Message) proto.Message {
	c := proto.Clone(req)
	if f, ok := c.(interface{ GetFilter() *pb.WorkloadFilter }); ok && f.GetFilter() != nil {
		f.GetFilter().Cluster = ""
	}
	return c
}
