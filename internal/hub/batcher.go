package hub

import (
	"sync"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/api"
)

// batchLag is how long a merged event waits for company before its batch
// is sent; the sort window has held it longer already.
const batchLag = 20 * time.Millisecond

// batcher sends a hub stream's events in batches for a client that asks
// for them: a message (and the client's wakeups) per burst, not per event,
// at most api.MaxBatch events each. Any other message (drops) goes at
// once, after the events before it. After a failed send every call
// returns its error, and a failure in the background calls failed, so a
// quiet stream ends too; nothing is sent after close.
type batcher struct {
	send   func(*pb.WatchEventsResponse) error
	lag    time.Duration
	failed func()

	mu     sync.Mutex
	events []*pb.Event
	armed  bool // a flush is scheduled
	closed bool
	err    error
}

func newBatcher(send func(*pb.WatchEventsResponse) error, lag time.Duration, failed func()) *batcher {
	return &batcher{send: send, lag: lag, failed: failed}
}

// add is the stream's send: Multi.Watch calls it for each merged message.
func (b *batcher) add(msg *pb.WatchEventsResponse) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := msg.GetEvent()
	switch {
	case b.err != nil || b.closed:
	case e == nil:
		b.flushLocked()
		if b.err == nil {
			b.err = b.send(msg)
		}
	default:
		b.events = append(b.events, e)
		if len(b.events) >= api.MaxBatch {
			b.flushLocked()
		} else if !b.armed {
			b.armed = true
			time.AfterFunc(b.lag, b.flush)
		}
	}
	return b.err
}

// flush is the timer's.
func (b *batcher) flush() {
	b.mu.Lock()
	b.armed = false
	b.flushLocked()
	err := b.err
	b.mu.Unlock()
	if err != nil && b.failed != nil {
		b.failed()
	}
}

func (b *batcher) flushLocked() {
	if len(b.events) == 0 || b.err != nil || b.closed {
		return
	}
	b.err = b.send(&pb.WatchEventsResponse{Item: &pb.WatchEventsResponse_Batch{Batch: &pb.EventBatch{Events: b.events}}})
	b.events = nil
}

// close sends what waits, and nothing after: the stream's handler returns.
func (b *batcher) close() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.flushLocked()
	b.closed = true
	return b.err
}
