package api

import (
	"context"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/events"
)

const (
	// streamBuffer bounds what one client may lag behind; beyond it the bus
	// drops that client's events (and counts them), never waiting. A
	// buffer is allocated whole when the stream opens (an event is 264
	// bytes): 64 streams of 512 take ~9 MB; 512 events are 50 ms of an
	// exec storm of 10,000 a second.
	streamBuffer = 512
	// dropsEvery is how often a stream tells its client about new drops.
	dropsEvery = time.Second
	// maxStreams bounds the open streams, and so the memory of their buffers.
	maxStreams = 64
	// maxSyscallCgroups bounds the cgroups one syscall stream follows.
	maxSyscallCgroups = 256
	// MaxBatch bounds the events of one message of a batched stream
	// (~250 bytes each on the wire for an exec): 128 KiB.
	MaxBatch = 512
	// batchLinger is how long a batched stream first lets events gather
	// while they come in a run: an event waits at most this long for
	// company. A linger ends early once the stream buffer is a quarter
	// full (events.Subscription.Gather), so a burst does not overflow it.
	batchLinger = 4 * time.Millisecond
	// maxLinger bounds the linger of a run that lasts (nextLinger): each
	// message costs the agent and the client a few thread wakeups, which
	// on a VM cost more than the events they carry.
	maxLinger = 20 * time.Millisecond
	// quietAfter is the gap after which an event counts as the first of a
	// run and is sent at once, so an idle node's events are not delayed.
	quietAfter = 10 * time.Millisecond
)

// stallLimit is how long a send to a client may wait for the client to read
// before the stream is evicted, so clients that stop reading cannot hold
// every stream slot. A variable for the tests.
var stallLimit = 10 * time.Second

// stream is one open WatchEvents call.
type stream struct{ sub *events.Subscription }

// WatchEvents implements pb.AgentServer.
func (s *Service) WatchEvents(req *pb.WatchEventsRequest, srv grpc.ServerStreamingServer[pb.WatchEventsResponse]) error {
	return s.watch(srv.Context(), req, srv.Send)
}

// watch streams the events req selects to send until ctx ends or send fails.
func (s *Service) watch(ctx context.Context, req *pb.WatchEventsRequest, send func(*pb.WatchEventsResponse) error) error {
	keep, err := s.filter(ctx, req.GetFilter())
	if err != nil {
		return err
	}
	// A stream is authorized as a whole, never per event (a decision may
	// ask the API server; the filter runs on the probes' ring readers): a
	// namespace the caller may see, or the whole node.
	if scope := keep.scope; keep.namespace == "" && !scope.All() {
		if err := scope.Err(); err != nil {
			return denied(scope)
		}
		return status.Errorf(codes.PermissionDenied,
			"%s may not stream every workload of this node (that needs get pods in every namespace and get orb8.dev nodes/telemetry): give a namespace", scope.ID)
	}
	keep.scope = nil
	if s.b.Events == nil {
		return status.Error(codes.Unavailable, "this agent has no event bus")
	}
	kinds := map[string]bool{}
	for _, k := range req.GetKinds() {
		if !slices.Contains(events.Kinds, k) {
			return status.Errorf(codes.InvalidArgument, "unknown event kind %q: want %s", k, strings.Join(events.Kinds, ", "))
		}
		kinds[k] = true
	}
	var accept func(*events.Event) bool
	if !keep.all() {
		accept = func(e *events.Event) bool { return keep.matchWorkload(&e.Workload) }
	}
	if kinds[events.KindSyscall] {
		stop, err := s.streamSyscalls(keep)
		if err != nil {
			return err
		}
		defer stop()
	}
	s.mu.Lock()
	if len(s.streams) >= maxStreams {
		s.mu.Unlock()
		return status.Errorf(codes.ResourceExhausted, "this agent already serves %d event streams: close one and retry", maxStreams)
	}
	st := &stream{sub: s.b.Events.Subscribe(streamBuffer, req.GetKinds(), accept)}
	s.streams[st] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.streams, st)
		s.mu.Unlock()
		s.b.Events.Unsubscribe(st.sub)
		s.dropped.Add(st.sub.Dropped())
	}()
	return s.pumpOrEvict(ctx, st.sub, req.GetBatch(), send)
}

// pumpOrEvict pumps in a goroutine of its own and ends the stream when a
// send has waited stallLimit for the client to read: a send blocked on a
// client that does not read can only be ended by returning from the call.
// A client that reads but is slow loses events (counted) instead.
func (s *Service) pumpOrEvict(ctx context.Context, sub *events.Subscription, batch bool, send func(*pb.WatchEventsResponse) error) error {
	var sendingSince atomic.Int64 // unix ns; 0 while no send waits
	timed := func(msg *pb.WatchEventsResponse) error {
		sendingSince.Store(time.Now().UnixNano())
		defer sendingSince.Store(0)
		return send(msg)
	}
	done := make(chan error, 1)
	go func() { done <- s.pump(ctx, sub, batch, timed) }()
	tick := time.NewTicker(stallLimit / 4)
	defer tick.Stop()
	for {
		select {
		case err := <-done:
			return err
		case now := <-tick.C:
			if since := sendingSince.Load(); since != 0 && now.Sub(time.Unix(0, since)) >= stallLimit {
				s.evicted.Add(1)
				return status.Errorf(codes.ResourceExhausted, "stream ended: the client read nothing for %s (%d events dropped)", stallLimit, sub.Dropped())
			}
		}
	}
}

// streamSyscalls asks the kernel to stream the syscalls of the workloads the
// filter names. Syscalls are too many to stream for a whole node, so a
// workload is required; cgroups created after the start are not followed.
func (s *Service) streamSyscalls(keep *matcher) (stop func(), err error) {
	if s.b.Syscalls == nil || s.b.Cgroups == nil {
		return nil, status.Error(codes.FailedPrecondition, "syscall tracing needs the syscalls probe: run the agent with --probes default,syscalls")
	}
	if keep.all() {
		return nil, status.Error(codes.InvalidArgument, "tracing syscalls needs a workload: give --pod, -n or --cgroup")
	}
	ids := s.b.Cgroups(keep.matchWorkload)
	if len(ids) == 0 {
		return nil, status.Error(codes.NotFound, "no workload matches the filter")
	}
	if len(ids) > maxSyscallCgroups {
		return nil, status.Errorf(codes.InvalidArgument, "the filter matches %d cgroups: syscall tracing follows at most %d, narrow it", len(ids), maxSyscallCgroups)
	}
	stop, err = s.b.Syscalls.Stream(ids, nil)
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return stop, nil
}

// pump sends the subscription's events until the client leaves, and reports
// the running total of drops whenever it grew. A batched stream sends the
// first event after a quiet spell at once; while events keep coming it lets
// them gather (nextLinger) and sends them together, so a storm costs a
// message (and a wakeup of this goroutine, the transport's writer and the
// client) per batch, not per event.
func (s *Service) pump(ctx context.Context, sub *events.Subscription, batch bool, send func(*pb.WatchEventsResponse) error) error {
	tick := time.NewTicker(dropsEvery)
	defer tick.Stop()
	var (
		reported uint64
		lastSent time.Time
		linger   time.Duration // the run's last linger; 0 after a quiet spell
	)
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-sub.C:
			if !ok {
				return nil
			}
			if !batch {
				if err := send(&pb.WatchEventsResponse{Item: &pb.WatchEventsResponse_Event{Event: eventMessage(&e, s.b.Node)}}); err != nil {
					return err
				}
				continue
			}
			if time.Since(lastSent) < quietAfter {
				linger = nextLinger(linger)
				sub.Gather(linger)
			} else {
				linger = 0
			}
			b := &pb.EventBatch{Events: make([]*pb.Event, 1, min(len(sub.C)+1, MaxBatch))}
			b.Events[0] = eventMessage(&e, s.b.Node)
			open := drain(sub.C, func(e *events.Event) bool {
				b.Events = append(b.Events, eventMessage(e, s.b.Node))
				return len(b.Events) < MaxBatch
			})
			lastSent = time.Now()
			if err := send(&pb.WatchEventsResponse{Item: &pb.WatchEventsResponse_Batch{Batch: b}}); err != nil || !open {
				return err
			}
		case <-tick.C:
			if d := sub.Dropped(); d > reported {
				reported = d
				msg := &pb.WatchEventsResponse{Item: &pb.WatchEventsResponse_Drops{Drops: &pb.Drops{Total: d}}}
				if err := send(msg); err != nil {
					return err
				}
			}
		}
	}
}

// nextLinger is how long a run's next batch gathers after a linger of prev
// (0: the run's first): batchLinger first, then twice as long per message
// up to maxLinger, so a short burst waits as little as before and a storm
// of a few thousand events a second sends ~50 messages a second. A fast
// run needs no shorter linger: Gather ends it once the buffer fills.
func nextLinger(prev time.Duration) time.Duration {
	if prev == 0 {
		return batchLinger
	}
	return min(2*prev, maxLinger)
}

// drain hands add the events queued on c, without waiting, until add
// returns false or c is empty; it reports whether c is still open.
func drain(c <-chan events.Event, add func(*events.Event) bool) (open bool) {
	for {
		select {
		case e, ok := <-c:
			if !ok {
				return false
			}
			if !add(&e) {
				return true
			}
		default:
			return true
		}
	}
}

// StreamStats counts open streams, the events all streams ever lost, and
// the streams evicted because their client stopped reading.
func (s *Service) StreamStats() (open uint32, dropped, evicted uint64) {
	open, dropped = s.streamStats()
	return open, dropped, s.evicted.Load()
}

func (s *Service) streamStats() (open uint32, dropped uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dropped = s.dropped.Load()
	for st := range s.streams {
		dropped += st.sub.Dropped()
	}
	return uint32(len(s.streams)), dropped
}
