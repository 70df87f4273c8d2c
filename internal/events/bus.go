package events

import (
	"sync"
	"sync/atomic"
)

// Bus fans events out to subscribers. Publish never blocks: a subscriber whose
// buffer is full loses the event and the loss is counted for it.
type Bus struct {
	mu   sync.RWMutex
	subs map[*Subscription]struct{}
}

// Subscription receives the events its filter accepts on C.
type Subscription struct {
	C       chan Event
	filter  func(*Event) bool
	dropped atomic.Uint64
}

// Dropped is the number of events this subscriber lost to a full buffer.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// NewBus returns an empty bus.
func NewBus() *Bus { return &Bus{subs: make(map[*Subscription]struct{})} }

// Subscribe registers a subscriber with a buffer of size events; a nil filter
// accepts everything.
func (b *Bus) Subscribe(size int, filter func(*Event) bool) *Subscription {
	s := &Subscription{C: make(chan Event, size), filter: filter}
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.mu.Unlock()
	return s
}

// Unsubscribe removes a subscriber and closes its channel.
func (b *Bus) Unsubscribe(s *Subscription) {
	b.mu.Lock()
	if _, ok := b.subs[s]; ok {
		delete(b.subs, s)
		close(s.C)
	}
	b.mu.Unlock()
}

// Active reports whether anyone listens, so producers can skip building events.
func (b *Bus) Active() bool {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return len(b.subs) > 0
}

// Publish delivers e to every subscriber that wants it. Events of hidden
// (filtered-out) workloads go nowhere.
func (b *Bus) Publish(e Event) {
	if e.Workload.Hidden {
		return
	}
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		if s.filter != nil && !s.filter(&e) {
			continue
		}
		select {
		case s.C <- e:
		default:
			s.dropped.Add(1)
		}
	}
}
