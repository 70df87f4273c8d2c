package apiclient

import (
	"context"
	"errors"
	"sort"
	"sync"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// Multi is a Client of several agents at once: each call goes to every
// member in parallel, and the answers are merged (workloads carry their
// node; limits apply to the merge). A member that fails leaves its part out
// and its error is returned with the rest.
type Multi struct {
	members []Client
	// keepStreams: a member's stream that fails leaves the others streaming.
	keepStreams bool
	// sortWindow and sortMax: Watch's sort buffer (none when 0).
	sortWindow time.Duration
	sortMax    int
}

// Sorted makes Watch hand on events in the order they happened across
// members: each waits up to window for earlier ones from slower members,
// in a buffer of at most max events (see sortBuffer).
func (m *Multi) Sorted(window time.Duration, max int) *Multi {
	m.sortWindow, m.sortMax = window, max
	return m
}

// KeepStreams makes Watch go on with the other members when one member's
// stream fails (a hub), instead of ending every stream (a CLI, which then
// says what failed). The failures are returned when the watch ends.
func (m *Multi) KeepStreams() *Multi {
	m.keepStreams = true
	return m
}

// NewMulti asks every member.
func NewMulti(members ...Client) *Multi { return &Multi{members: members} }

// each runs fn for every member at once. A member that may see nothing
// (PermissionDenied) is no error while another answered: a user who may
// see one namespace is denied by every node that runs none of its pods.
func (m *Multi) each(fn func(i int, c Client) error) error {
	var wg sync.WaitGroup
	errs := make([]error, len(m.members))
	for i, c := range m.members {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = fn(i, c)
		}()
	}
	wg.Wait()
	answered := false
	for _, err := range errs {
		answered = answered || err == nil
	}
	var kept []error
	for _, err := range errs {
		var p *PartialError
		switch {
		case err == nil, answered && isDenied(err):
		case errors.As(err, &p): // a hub member's own partial answer
			kept = append(kept, p.Unanswered...)
		default:
			kept = append(kept, err)
		}
	}
	if answered && len(kept) > 0 {
		return &PartialError{Unanswered: kept}
	}
	return errors.Join(kept...)
}

// isDenied reports whether err is an agent's permission refusal.
func isDenied(err error) bool {
	var d *deniedError
	return errors.As(err, &d)
}

// gatherAll asks every member with call and returns the answers in member
// order; a member that failed leaves a nil answer.
func gatherAll[T any](m *Multi, call func(c Client) (T, error)) ([]T, error) {
	out := make([]T, len(m.members))
	err := m.each(func(i int, c Client) error {
		var err error
		out[i], err = call(c)
		return err
	})
	return out, err
}

func flatten[T any](parts [][]T) []T {
	var out []T
	for _, p := range parts {
		out = append(out, p...)
	}
	return out
}

// Statuses implements Client.
func (m *Multi) Statuses(ctx context.Context) ([]*pb.Status, error) {
	parts, err := gatherAll(m, func(c Client) ([]*pb.Status, error) { return c.Statuses(ctx) })
	return flatten(parts), err
}

// Workloads implements Client.
func (m *Multi) Workloads(ctx context.Context, req *pb.ListWorkloadsRequest) ([]*pb.WorkloadFigures, error) {
	parts, err := gatherAll(m, func(c Client) ([]*pb.WorkloadFigures, error) { return c.Workloads(ctx, req) })
	return capped(flatten(parts), req.GetLimit()), err
}

// Flows implements Client.
func (m *Multi) Flows(ctx context.Context, req *pb.ListFlowsRequest) ([]*pb.Flow, error) {
	parts, err := gatherAll(m, func(c Client) ([]*pb.Flow, error) { return c.Flows(ctx, req) })
	out := flatten(parts)
	sort.SliceStable(out, func(i, j int) bool {
		return out[i].TxBytes+out[i].RxBytes > out[j].TxBytes+out[j].RxBytes
	})
	return capped(out, req.GetLimit()), err
}

// DNS implements Client.
func (m *Multi) DNS(ctx context.Context, req *pb.ListDNSRequest) ([]*pb.DNSQuery, error) {
	parts, err := gatherAll(m, func(c Client) ([]*pb.DNSQuery, error) { return c.DNS(ctx, req) })
	out := flatten(parts)
	sort.SliceStable(out, func(i, j int) bool { return out[i].GetTime().AsTime().After(out[j].GetTime().AsTime()) })
	return capped(out, req.GetLimit()), err
}

// Requests implements Client: the slowest first, or the failing newest
// first, as each agent sorts them.
func (m *Multi) Requests(ctx context.Context, req *pb.ListRequestsRequest) ([]*pb.Request, error) {
	parts, err := gatherAll(m, func(c Client) ([]*pb.Request, error) { return c.Requests(ctx, req) })
	out := flatten(parts)
	if req.GetKind() == "failing" {
		sort.SliceStable(out, func(i, j int) bool { return out[i].GetTime().AsTime().After(out[j].GetTime().AsTime()) })
	} else {
		sort.SliceStable(out, func(i, j int) bool { return out[i].GetLatencySeconds() > out[j].GetLatencySeconds() })
	}
	return capped(out, req.GetLimit()), err
}

// Processes implements Client: it asks the member that runs on node.
func (m *Multi) Processes(ctx context.Context, node, cgroup string) ([]*pb.Process, error) {
	parts, err := gatherAll(m, func(c Client) ([]*pb.Process, error) {
		if n, ok := c.(interface{ Node() string }); ok && n.Node() != node {
			return nil, nil
		}
		return c.Processes(ctx, node, cgroup)
	})
	return flatten(parts), err
}

// GPUs implements Client.
func (m *Multi) GPUs(ctx context.Context) ([]*pb.GPU, error) {
	parts, err := gatherAll(m, func(c Client) ([]*pb.GPU, error) { return c.GPUs(ctx) })
	return flatten(parts), err
}

// Watch implements Client: one stream per member, merged as they come, or
// in the order they happened when Sorted. Each member reports its own
// running total of drops; fn sees their sum, at once.
func (m *Multi) Watch(ctx context.Context, req *pb.WatchEventsRequest, fn func(*pb.WatchEventsResponse) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu      sync.Mutex // fn sees one message at a time
		drops   = make([]uint64, len(m.members))
		sorted  *sortBuffer
		sendErr error // fn's, when the sort buffer's timer called it
	)
	timerDone := make(chan struct{})
	if m.sortWindow > 0 {
		sorted = newSortBuffer(m.sortWindow, m.sortMax)
		go func() {
			defer close(timerDone)
			ticker := time.NewTicker(max(m.sortWindow/4, 10*time.Millisecond))
			defer ticker.Stop()
			for {
				select {
				case <-ctx.Done():
					return
				case now := <-ticker.C:
					mu.Lock()
					if err := sorted.release(now, fn); err != nil && sendErr == nil {
						sendErr = err
						cancel()
					}
					mu.Unlock()
				}
			}
		}()
	} else {
		close(timerDone)
	}
	err := m.each(func(i int, c Client) error {
		err := c.Watch(ctx, req, func(msg *pb.WatchEventsResponse) error {
			mu.Lock()
			defer mu.Unlock()
			if d := msg.GetDrops(); d != nil {
				drops[i] = d.GetTotal()
				var total uint64
				for _, n := range drops {
					total += n
				}
				return fn(&pb.WatchEventsResponse{Item: &pb.WatchEventsResponse_Drops{Drops: &pb.Drops{Total: total}}})
			}
			if sorted != nil {
				// fn's error ends every stream, not just this member's.
				if err := sorted.push(msg, time.Now(), fn); err != nil {
					if sendErr == nil {
						sendErr = err
					}
					cancel()
					return err
				}
				return nil
			}
			return fn(msg)
		})
		if err != nil && ctx.Err() == nil && !isDenied(err) && !m.keepStreams {
			cancel()
		}
		return err
	})
	// The streams are over: no more calls of fn from the timer either.
	stopped := ctx.Err() != nil
	cancel()
	<-timerDone
	if sendErr != nil {
		return sendErr
	}
	if sorted != nil && !stopped {
		if ferr := sorted.flush(fn); ferr != nil {
			return ferr
		}
	}
	return err
}

// Close implements Client.
func (m *Multi) Close() error {
	var errs []error
	for _, c := range m.members {
		errs = append(errs, c.Close())
	}
	return errors.Join(errs...)
}

func capped[T any](items []T, n uint32) []T {
	if n > 0 && len(items) > int(n) {
		return items[:n]
	}
	return items
}
