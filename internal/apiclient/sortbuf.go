package apiclient

import (
	"container/heap"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// sortBuffer puts events from several streams back in the order they
// happened, as Hubble Relay does for flows: an event waits up to window
// after it arrived for earlier ones from slower streams; when one must go
// (its wait is over, or the buffer holds more than max), every event that
// happened before it goes first. No event waits much longer than window
// (the release runs every window/4) while the buffer has room, whatever
// the streams' clocks say. It holds at most max events, and at most twice
// max counting those released behind the longest waiting one.
type sortBuffer struct {
	window time.Duration
	max    int
	byTime eventHeap
	// arrived is the buffered events in arrival order, released ones
	// included until they reach its front.
	arrived []*bufferedEvent
	seq     uint64
}

type bufferedEvent struct {
	msg      *pb.WatchEventsResponse
	at       time.Time // when the event happened
	seq      uint64    // arrival order, for events of the same time
	deadline time.Time // when it arrived, plus the window
	released bool
}

func newSortBuffer(window time.Duration, max int) *sortBuffer {
	return &sortBuffer{window: window, max: max}
}

// push adds an event that arrived at now, then hands on what must go.
func (b *sortBuffer) push(msg *pb.WatchEventsResponse, now time.Time, fn func(*pb.WatchEventsResponse) error) error {
	b.seq++
	e := &bufferedEvent{msg: msg, at: msg.GetEvent().GetTime().AsTime(), seq: b.seq, deadline: now.Add(b.window)}
	heap.Push(&b.byTime, e)
	b.arrived = append(b.arrived, e)
	return b.release(now, fn)
}

// release hands on, in the order they happened, the events that must go
// at now.
func (b *sortBuffer) release(now time.Time, fn func(*pb.WatchEventsResponse) error) error {
	for len(b.byTime) > 0 {
		b.dropReleased()
		// arrived also holds released events behind the longest waiting
		// one: past twice max, that one goes as if its wait were over.
		full := len(b.byTime) > b.max || len(b.arrived) > 2*b.max
		if !full && now.Before(b.arrived[0].deadline) {
			return nil
		}
		if err := b.pop(fn); err != nil {
			return err
		}
	}
	b.dropReleased()
	return nil
}

// flush hands on every buffered event, in the order they happened.
func (b *sortBuffer) flush(fn func(*pb.WatchEventsResponse) error) error {
	for len(b.byTime) > 0 {
		if err := b.pop(fn); err != nil {
			return err
		}
	}
	b.arrived = b.arrived[:0]
	return nil
}

func (b *sortBuffer) pop(fn func(*pb.WatchEventsResponse) error) error {
	e := heap.Pop(&b.byTime).(*bufferedEvent)
	msg := e.msg
	e.msg, e.released = nil, true // arrived may hold e a while yet
	return fn(msg)
}

// dropReleased removes released events from the front of arrived, so that
// its front is the longest waiting event still buffered.
func (b *sortBuffer) dropReleased() {
	n := 0
	for n < len(b.arrived) && b.arrived[n].released {
		b.arrived[n] = nil
		n++
	}
	b.arrived = b.arrived[n:]
}

// eventHeap orders events by when they happened, then by arrival.
type eventHeap []*bufferedEvent

func (h eventHeap) Len() int { return len(h) }
func (h eventHeap) Less(i, j int) bool {
	if !h[i].at.Equal(h[j].at) {
		return h[i].at.Before(h[j].at)
	}
	return h[i].seq < h[j].seq
}
func (h eventHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *eventHeap) Push(x any)   { *h = append(*h, x.(*bufferedEvent)) }
func (h *eventHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
