package hub

import (
	"errors"
	"sync"
	"testing"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/api"
)

// sent records the messages a batcher sends.
type sent struct {
	mu   sync.Mutex
	msgs []*pb.WatchEventsResponse
	err  error
}

func (s *sent) send(m *pb.WatchEventsResponse) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return s.err
	}
	s.msgs = append(s.msgs, m)
	return nil
}

func (s *sent) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.msgs)
}

func eventMsg(pid uint32) *pb.WatchEventsResponse {
	return &pb.WatchEventsResponse{Item: &pb.WatchEventsResponse_Event{Event: &pb.Event{Process: &pb.Process{Pid: pid}}}}
}

// Events go in batches of at most api.MaxBatch, in order; a drops notice goes
// after the events before it; close sends the rest.
func TestBatcherKeepsOrderInFewMessages(t *testing.T) {
	s := &sent{}
	b := newBatcher(s.send, time.Hour, nil)
	const n = 1000
	for pid := range uint32(n) {
		if err := b.add(eventMsg(pid)); err != nil {
			t.Fatal(err)
		}
		if pid == 599 {
			if err := b.add(&pb.WatchEventsResponse{Item: &pb.WatchEventsResponse_Drops{Drops: &pb.Drops{Total: 7}}}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := b.close(); err != nil {
		t.Fatal(err)
	}
	var next uint32
	for i, m := range s.msgs {
		if d := m.GetDrops(); d != nil {
			if next != 600 || d.GetTotal() != 7 {
				t.Fatalf("message %d: drops %d after event %d, want 7 after event 599", i, d.GetTotal(), next-1)
			}
			continue
		}
		evs := m.GetBatch().GetEvents()
		if len(evs) == 0 || len(evs) > api.MaxBatch {
			t.Fatalf("message %d carries %d events (%v)", i, len(evs), m)
		}
		for _, e := range evs {
			if e.GetProcess().GetPid() != next {
				t.Fatalf("message %d: pid %d, want %d", i, e.GetProcess().GetPid(), next)
			}
			next++
		}
	}
	// 512, then 88 before the notice, the notice, then 400.
	if next != n || len(s.msgs) != 4 {
		t.Fatalf("%d events in %d messages, want %d in 4", next, len(s.msgs), n)
	}
}

// A batch goes out after the lag without a close; after close nothing is
// sent, not even by a flush that was scheduled.
func TestBatcherSendsAfterTheLagAndNothingAfterClose(t *testing.T) {
	s := &sent{}
	const lag = 200 * time.Millisecond
	b := newBatcher(s.send, lag, nil)
	b.add(eventMsg(1))
	b.add(eventMsg(2))
	deadline := time.Now().Add(5 * time.Second)
	for s.count() == 0 {
		if time.Now().After(deadline) {
			t.Fatal("nothing sent 5 s after two events")
		}
		time.Sleep(time.Millisecond)
	}
	if got := len(s.msgs[0].GetBatch().GetEvents()); got != 2 {
		t.Fatalf("the batch carries %d events, want 2", got)
	}
	b.add(eventMsg(3)) // schedules a flush
	if err := b.close(); err != nil {
		t.Fatal(err)
	}
	b.add(eventMsg(4))
	time.Sleep(3 * lag)
	if got := s.count(); got != 2 {
		t.Fatalf("%d messages after close and the lag, want 2", got)
	}
}

// A failed send is the error of every later call, so the stream ends.
func TestBatcherReportsAFailedSend(t *testing.T) {
	gone := errors.New("client gone")
	s := &sent{err: gone}
	b := newBatcher(s.send, time.Hour, nil)
	for pid := range uint32(api.MaxBatch - 1) {
		if err := b.add(eventMsg(pid)); err != nil {
			t.Fatalf("event %d, before any send: %v", pid, err)
		}
	}
	if err := b.add(eventMsg(api.MaxBatch)); !errors.Is(err, gone) {
		t.Fatalf("the add that filled a batch = %v, want %v", err, gone)
	}
	if err := b.add(eventMsg(0)); !errors.Is(err, gone) {
		t.Fatalf("a later add = %v, want %v", err, gone)
	}
	if err := b.close(); !errors.Is(err, gone) {
		t.Fatalf("close = %v, want %v", err, gone)
	}
}
