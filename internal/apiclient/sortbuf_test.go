package apiclient

import (
	"context"
	"slices"
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

var epoch = time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)

// eventAt is an event that happened sec seconds after epoch.
func eventAt(sec int) *pb.WatchEventsResponse {
	return &pb.WatchEventsResponse{Item: &pb.WatchEventsResponse_Event{Event: &pb.Event{
		Kind: "exec", Time: timestamppb.New(epoch.Add(time.Duration(sec) * time.Second))}}}
}

// collector records the seconds of the events handed on.
type collector []int

func (c *collector) fn(msg *pb.WatchEventsResponse) error {
	*c = append(*c, int(msg.GetEvent().GetTime().AsTime().Sub(epoch)/time.Second))
	return nil
}

// Events of two streams, the slower one's arriving last, go on in the order
// they happened once the first one's wait is over, and not before.
func TestSortBufferOrdersAcrossStreams(t *testing.T) {
	var got collector
	b := newSortBuffer(100*time.Millisecond, 100)
	now := epoch
	b.push(eventAt(1), now, got.fn)
	b.push(eventAt(3), now.Add(time.Millisecond), got.fn)
	b.push(eventAt(2), now.Add(50*time.Millisecond), got.fn) // the slower stream's
	b.release(now.Add(99*time.Millisecond), got.fn)
	if len(got) != 0 {
		t.Fatalf("handed on %v before any wait was over", got)
	}
	b.release(now.Add(101*time.Millisecond), got.fn)
	if !slices.Equal(got, []int{1, 2, 3}) {
		t.Fatalf("handed on %v, want [1 2 3]", got)
	}
	b.push(eventAt(4), now.Add(200*time.Millisecond), got.fn)
	b.flush(got.fn)
	if !slices.Equal(got, []int{1, 2, 3, 4}) {
		t.Errorf("after flush %v, want [1 2 3 4]", got)
	}
}

// A full buffer hands on its earliest event at once.
func TestSortBufferBound(t *testing.T) {
	var got collector
	b := newSortBuffer(time.Hour, 2)
	for _, sec := range []int{5, 3, 4} {
		b.push(eventAt(sec), epoch, got.fn)
	}
	if !slices.Equal(got, []int{3}) {
		t.Fatalf("handed on %v, want the earliest, [3]", got)
	}
}

// Events released behind the longest waiting one count towards a bound
// of twice max: a stream whose clock is ahead does not make the buffer
// grow past it, and what goes on stays in order.
func TestSortBufferBoundCountsReleased(t *testing.T) {
	var got collector
	b := newSortBuffer(time.Hour, 4)
	b.push(eventAt(3600), epoch, got.fn) // ahead: everything else goes first
	for i := 1; i <= 100; i++ {
		b.push(eventAt(i), epoch, got.fn)
		if len(b.arrived) > 8 {
			t.Fatalf("after %d events the buffer holds %d", i+1, len(b.arrived))
		}
	}
	at := slices.Index(got, 3600)
	if at < 0 || !slices.IsSorted(got[:at+1]) || !slices.IsSorted(got[at+1:]) || len(got) < 90 {
		t.Errorf("handed on %v", got)
	}
}

// A stream whose clock is an hour behind does not hold the others' events
// past their wait: when one must go, the earlier ones go first.
func TestSortBufferBoundsTheWait(t *testing.T) {
	var got collector
	window := 100 * time.Millisecond
	b := newSortBuffer(window, 1000)
	b.push(eventAt(3600), epoch, got.fn)
	// The skewed stream sends an event every 10 ms, each "earlier" than the
	// first event by an hour.
	for i := 1; i <= 20; i++ {
		now := epoch.Add(time.Duration(i) * 10 * time.Millisecond)
		b.push(eventAt(i), now, got.fn)
		b.release(now, got.fn)
		if released := slices.Contains(got, 3600); released != (now.Sub(epoch) >= window) {
			t.Fatalf("at +%v: the first event handed on %v (%v)", now.Sub(epoch), released, got)
		}
	}
	// Everything that happened before it went first, in order.
	if want := []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 3600}; !slices.Equal(got, want) {
		t.Errorf("handed on %v, want %v", got, want)
	}
}

// streamer is a member whose stream sends events at the given seconds,
// after a delay, then ends.
type streamer struct {
	Client
	delay   time.Duration
	seconds []int
}

func (s streamer) Watch(ctx context.Context, _ *pb.WatchEventsRequest, fn func(*pb.WatchEventsResponse) error) error {
	select {
	case <-time.After(s.delay):
	case <-ctx.Done():
		return nil
	}
	for _, sec := range s.seconds {
		if err := fn(eventAt(sec)); err != nil {
			return err
		}
	}
	return nil
}

// Multi.Watch, Sorted, merges two members' streams in the order the events
// happened, though the second member's come 50 ms later; unsorted, they go
// on as they come.
func TestMultiWatchSorted(t *testing.T) {
	members := func() []Client {
		return []Client{streamer{seconds: []int{1, 3, 5}}, streamer{delay: 50 * time.Millisecond, seconds: []int{2, 4, 6}}}
	}
	var sorted collector
	if err := NewMulti(members()...).Sorted(time.Second, 100).Watch(context.Background(), &pb.WatchEventsRequest{}, sorted.fn); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(sorted, []int{1, 2, 3, 4, 5, 6}) {
		t.Errorf("sorted: %v", sorted)
	}
	var asTheyCome collector
	if err := NewMulti(members()...).Watch(context.Background(), &pb.WatchEventsRequest{}, asTheyCome.fn); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(asTheyCome, []int{1, 3, 5, 2, 4, 6}) {
		t.Errorf("unsorted: %v", asTheyCome)
	}
}
