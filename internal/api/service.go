package api

import (
	"context"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	dto "github.com/prometheus/client_model/go"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/version"
)

// maxItems bounds one answer when the client sets no limit, so a reply stays
// well under gRPC's message size limits.
const maxItems = 20000

// Service implements the orb8.v1.Agent gRPC service.
type Service struct {
	pb.UnimplementedAgentServer
	b       Backend
	started time.Time
	kernel  string

	gatherMu   sync.Mutex
	gathered   []*dto.MetricFamily
	gatheredAt time.Time

	mu      sync.Mutex
	streams map[*stream]struct{}
	// dropped counts events lost by streams that have ended; evicted counts
	// streams ended because their client stopped reading.
	dropped atomic.Uint64
	evicted atomic.Uint64
}

// NewService serves b.
func NewService(b Backend) *Service {
	return &Service{b: b, started: time.Now(), kernel: kernelRelease(), streams: map[*stream]struct{}{}}
}

func kernelRelease() string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		return ""
	}
	return unix.ByteSliceToString(u.Release[:])
}

// GetStatus implements pb.AgentServer.
func (s *Service) GetStatus(context.Context, *pb.GetStatusRequest) (*pb.Status, error) {
	st := &pb.Status{
		Node: s.b.Node, Version: version.String(), Kernel: s.kernel, CgroupRoot: s.b.CgroupRoot,
		CgroupHierarchy: s.b.CgroupHierarchy,
		Started:         timestamppb.New(s.started),
		MaxOverhead:     s.b.MaxOverhead,
	}
	families, err := s.gather()
	if err != nil {
		return nil, err
	}
	read := labelSum(families, "orb8_events_total", "probe")
	lost := labelSum(families, "orb8_events_lost_total", "probe")
	full := labelSum(families, "orb8_bpf_map_full_total", "probe")
	// Accelerator runtimes are probes of the runtime's name.
	sampled := labelSum(families, "orb8_accelerator_sampled_processes", "runtime")
	ratios := samplingRatios(families)
	if s.b.Probes != nil {
		for _, p := range s.b.Probes() {
			st.Probes = append(st.Probes, &pb.ProbeStatus{
				Name: p.Name, Up: p.Up, Error: p.Error, Degraded: p.Degraded,
				EventsRead: uint64(read[p.Name]), EventsLost: uint64(lost[p.Name]), MapFull: uint64(full[p.Name]),
				Sampling: ratios[p.Name], SampledProcesses: uint32(sampled[p.Name]),
			})
		}
	}
	st.OverheadRatio = labelSum(families, "orb8_overhead_ratio", "")[""]
	st.TrackedWorkloads = uint64(labelSum(families, "orb8_tracked_workloads", "")[""])
	st.UntrackedWorkloads = uint64(labelSum(families, "orb8_workloads_untracked_total", "")[""])
	st.ApiStreams, st.ApiEventsDropped = s.streamStats()
	return st, nil
}

// gatherEvery bounds how often answers read the agent's metrics: however
// many clients ask, the registry is gathered at most once per interval (a
// gather of 10,000 workloads costs ~0.5 s of CPU), and concurrent callers
// share one gather; answers are at most that old.
const gatherEvery = time.Second

// gather returns the agent's metric families; callers must not modify them.
func (s *Service) gather() ([]*dto.MetricFamily, error) {
	if s.b.Metrics == nil {
		return nil, nil
	}
	s.gatherMu.Lock()
	defer s.gatherMu.Unlock()
	if now := time.Now(); now.Sub(s.gatheredAt) < gatherEvery {
		return s.gathered, nil
	}
	families, err := s.b.Metrics.Gather()
	if err != nil && len(families) == 0 {
		return nil, status.Errorf(codes.Internal, "read metrics: %v", err)
	}
	// Partial results are still figures: one failing collector must not hide the rest.
	s.gathered, s.gatheredAt = families, time.Now()
	return families, nil
}

// ListWorkloads implements pb.AgentServer.
func (s *Service) ListWorkloads(ctx context.Context, req *pb.ListWorkloadsRequest) (*pb.ListWorkloadsResponse, error) {
	keep, err := s.filter(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	families, err := s.gather()
	if err != nil {
		return nil, err
	}
	resp := &pb.ListWorkloadsResponse{Time: timestamppb.Now(), Workloads: workloadFigures(families, keep, s.b.Node, s.b.Workload)}
	if s.b.Labels != nil {
		for _, wf := range resp.Workloads {
			wf.Workload.Labels = keep.podLabels(wf.Workload.Namespace, wf.Workload.Pod)
		}
	}
	if err := visible(keep, len(resp.Workloads)); err != nil {
		return nil, err
	}
	resp.Workloads, _ = limit(resp.Workloads, req.GetLimit())
	return resp, nil
}

// ListFlows implements pb.AgentServer.
func (s *Service) ListFlows(ctx context.Context, req *pb.ListFlowsRequest) (*pb.ListFlowsResponse, error) {
	keep, err := s.filter(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	switch req.GetProtocol() {
	case "", "tcp", "udp":
	default:
		return nil, status.Errorf(codes.InvalidArgument, "protocol %q: want tcp or udp", req.GetProtocol())
	}
	resp := &pb.ListFlowsResponse{}
	if s.b.Flows == nil {
		return resp, nil
	}
	var flows []Flow
	for _, f := range s.b.Flows.Flows() {
		if (req.GetProtocol() == "" || f.Protocol == req.GetProtocol()) && keep.matchWorkload(&f.Workload) {
			flows = append(flows, f)
		}
	}
	if err := visible(keep, len(flows)); err != nil {
		return nil, err
	}
	sort.Slice(flows, func(i, j int) bool {
		return flows[i].TxBytes+flows[i].RxBytes > flows[j].TxBytes+flows[j].RxBytes
	})
	flows, resp.Truncated = limit(flows, req.GetLimit())
	for i := range flows {
		resp.Flows = append(resp.Flows, flowMessage(&flows[i], s.b.Node))
	}
	return resp, nil
}

// ListDNS implements pb.AgentServer.
func (s *Service) ListDNS(ctx context.Context, req *pb.ListDNSRequest) (*pb.ListDNSResponse, error) {
	keep, err := s.filter(ctx, req.GetFilter())
	if err != nil {
		return nil, err
	}
	resp := &pb.ListDNSResponse{}
	if s.b.DNS == nil {
		return resp, nil
	}
	if len(req.GetName()) > maxNameFilter {
		return nil, status.Errorf(codes.InvalidArgument, "name filter of %d bytes: at most %d", len(req.GetName()), maxNameFilter)
	}
	name := strings.ToLower(req.GetName())
	var queries []DNSQuery
	for _, q := range s.b.DNS.DNSQueries() {
		if req.GetErrorsOnly() && q.RCode == "NOERROR" {
			continue
		}
		if name != "" && !containsFold(q.Name, name) {
			continue
		}
		if keep.matchWorkload(&q.Workload) {
			queries = append(queries, q)
		}
	}
	if err := visible(keep, len(queries)); err != nil {
		return nil, err
	}
	sort.Slice(queries, func(i, j int) bool { return queries[i].Time.After(queries[j].Time) })
	queries, resp.Truncated = limit(queries, req.GetLimit())
	for i := range queries {
		resp.Queries = append(resp.Queries, dnsMessage(&queries[i], s.b.Node))
	}
	return resp, nil
}

// ListGPUs implements pb.AgentServer.
func (s *Service) ListGPUs(ctx context.Context, _ *pb.ListGPUsRequest) (*pb.ListGPUsResponse, error) {
	// Devices belong to the node, not to a namespace.
	if scope := scopeOf(ctx); !scope.Host() {
		return nil, denied(scope)
	}
	families, err := s.gather()
	if err != nil {
		return nil, err
	}
	return &pb.ListGPUsResponse{Gpus: gpus(families, s.b.Node)}, nil
}

// filter compiles a request's filter under what its caller may see: a
// namespace asked for must be one the caller may see, and the matcher keeps
// only the visible workloads.
func (s *Service) filter(ctx context.Context, f *pb.WorkloadFilter) (*matcher, error) {
	m, err := compileFilter(f, s.b.Labels)
	if err != nil {
		return nil, status.Error(codes.InvalidArgument, err.Error())
	}
	m.scope = scopeOf(ctx)
	if ns := m.namespace; ns != "" && !m.scope.Namespace(ns) {
		return nil, denied(m.scope)
	}
	return m, nil
}

// visible fails an answer of n items whose caller may see nothing at all
// here, so that "not allowed" never reads as "nothing there".
func visible(m *matcher, n int) error {
	if n == 0 && !m.scope.AnyAllowed() {
		return denied(m.scope)
	}
	return nil
}

// limit keeps the first n items (maxItems when n is 0) and says how many it cut.
func limit[T any](items []T, n uint32) ([]T, uint32) {
	max := int(n)
	if max == 0 || max > maxItems {
		max = maxItems
	}
	if len(items) <= max {
		return items, 0
	}
	return items[:max], uint32(len(items) - max)
}
