package api

import (
	"context"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/events"
)

const (
	// streamBuffer bounds what one client may lag behind; beyond it the bus
	// drops that client's events (and counts them), never waiting.
	streamBuffer = 4096
	// dropsEvery is how often a stream tells its client about new drops.
	dropsEvery = time.Second
	// maxStreams bounds the open streams, and so the memory of their buffers.
	maxStreams = 64
)

// stream is one open WatchEvents call.
type stream struct{ sub *events.Subscription }

// WatchEvents implements pb.AgentServer.
func (s *Service) WatchEvents(req *pb.WatchEventsRequest, srv grpc.ServerStreamingServer[pb.WatchEventsResponse]) error {
	return s.watch(srv.Context(), req, srv.Send)
}

// watch streams the events req selects to send until ctx ends or send fails.
func (s *Service) watch(ctx context.Context, req *pb.WatchEventsRequest, send func(*pb.WatchEventsResponse) error) error {
	keep, err := s.filter(req.GetFilter())
	if err != nil {
		return err
	}
	if s.b.Events == nil {
		return status.Error(codes.Unavailable, "this agent has no event bus")
	}
	kinds := map[string]bool{}
	for _, k := range req.GetKinds() {
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
	return s.pump(ctx, st.sub, send)
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
	stop, err = s.b.Syscalls.Stream(ids, nil)
	if err != nil {
		return nil, status.Error(codes.FailedPrecondition, err.Error())
	}
	return stop, nil
}

// pump sends the subscription's events until the client leaves, and reports
// the running total of drops whenever it grew.
func (s *Service) pump(ctx context.Context, sub *events.Subscription, send func(*pb.WatchEventsResponse) error) error {
	tick := time.NewTicker(dropsEvery)
	defer tick.Stop()
	var reported uint64
	for {
		select {
		case <-ctx.Done():
			return nil
		case e, ok := <-sub.C:
			if !ok {
				return nil
			}
			msg := &pb.WatchEventsResponse{Item: &pb.WatchEventsResponse_Event{Event: eventMessage(&e, s.b.Node)}}
			if err := send(msg); err != nil {
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

// streamStats counts open streams and the events all streams ever lost.
func (s *Service) streamStats() (open uint32, dropped uint64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	dropped = s.dropped.Load()
	for st := range s.streams {
		dropped += st.sub.Dropped()
	}
	return uint32(len(s.streams)), dropped
}
