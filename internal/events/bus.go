package events

import (
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// Bus fans events out to subscribers. Publish never blocks: a subscriber whose
// buffer is full loses the event and the loss is counted for it.
type Bus struct {
	mu   sync.RWMutex
	subs map[*Subscription]struct{}
	// wanted counts subscribers per kind ("" for those that take every kind),
	// so producers can skip building events nobody asked for; wantedAll
	// counts those of them that are not content with a sample.
	wanted, wantedAll map[string]int
	// listened and listenedAll are the kinds with a subscriber in wanted and
	// wantedAll, rebuilt on every change: Wants runs per event and reads
	// them without a lock (an RLock is a write to a cache line that every
	// CPU producing events shares).
	listened, listenedAll atomic.Pointer[map[string]bool]
	// onChange are told when the set of subscribers changed.
	onChange []func()
}

// Subscription receives the events its filter accepts on C.
type Subscription struct {
	C       chan Event
	kinds   []string // nil: every kind
	filter  func(*Event) bool
	sample  bool // content with a sample of busy kinds (SubscribeSample)
	dropped atomic.Uint64
	filling chan struct{} // signalled by a publish that leaves C a quarter full
}

// Gather waits d for events to gather in the buffer, or less: until a
// publish leaves it a quarter full, so that a reader that lingers to batch
// what it reads does not let a sudden burst overflow it.
func (s *Subscription) Gather(d time.Duration) {
	select {
	case <-s.filling: // a mark from before this wait
	default:
	}
	if len(s.C) >= cap(s.C)/4 {
		return
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
	case <-s.filling:
	}
}

// Dropped is the number of events this subscriber lost to a full buffer.
func (s *Subscription) Dropped() uint64 { return s.dropped.Load() }

// NewBus returns an empty bus.
func NewBus() *Bus {
	b := &Bus{subs: make(map[*Subscription]struct{}), wanted: map[string]int{}, wantedAll: map[string]int{}}
	b.listened.Store(&map[string]bool{})
	b.listenedAll.Store(&map[string]bool{})
	return b
}

// Subscribe registers a subscriber with a buffer of size events, for the
// given kinds (none: every kind); a nil filter accepts every event of them.
func (b *Bus) Subscribe(size int, kinds []string, filter func(*Event) bool) *Subscription {
	return b.subscribe(&Subscription{C: make(chan Event, size), kinds: kinds, filter: filter})
}

// SubscribeSample registers a subscriber content with a sample of the kinds
// it names, such as a log of recent events: a producer whose events come
// faster than anyone reads them may send it a bounded share while no
// subscriber wants them all (WantsAll).
func (b *Bus) SubscribeSample(size int, kinds []string) *Subscription {
	return b.subscribe(&Subscription{C: make(chan Event, size), kinds: kinds, sample: true})
}

func (b *Bus) subscribe(s *Subscription) *Subscription {
	s.filling = make(chan struct{}, 1)
	b.mu.Lock()
	b.subs[s] = struct{}{}
	b.count(s, 1)
	b.mu.Unlock()
	b.changed()
	return s
}

// OnChange calls fn now and after every Subscribe and Unsubscribe, before
// they return: a producer that turns its kernel events on in fn misses
// nothing a new subscriber wants.
func (b *Bus) OnChange(fn func()) {
	b.mu.Lock()
	b.onChange = append(b.onChange, fn)
	b.mu.Unlock()
	fn()
}

func (b *Bus) changed() {
	b.mu.RLock()
	fns := b.onChange
	b.mu.RUnlock()
	for _, fn := range fns {
		fn()
	}
}

func (b *Bus) count(s *Subscription, delta int) {
	count(b.wanted, &b.listened, s.kinds, delta)
	if !s.sample {
		count(b.wantedAll, &b.listenedAll, s.kinds, delta)
	}
}

// count adds delta subscribers of kinds (none: every kind) to wanted and
// stores the kinds it then has a subscriber for in listened.
func count(wanted map[string]int, listened *atomic.Pointer[map[string]bool], kinds []string, delta int) {
	if len(kinds) == 0 {
		wanted[""] += delta
	}
	for _, k := range kinds {
		wanted[k] += delta
	}
	l := map[string]bool{}
	for k, n := range wanted {
		if n > 0 {
			l[k] = true
		}
	}
	listened.Store(&l)
}

// Unsubscribe removes a subscriber and closes its channel.
func (b *Bus) Unsubscribe(s *Subscription) {
	b.mu.Lock()
	_, ok := b.subs[s]
	if ok {
		delete(b.subs, s)
		b.count(s, -1)
		close(s.C)
	}
	b.mu.Unlock()
	if ok {
		b.changed()
	}
}

// Wants reports whether anyone listens for events of kind, so producers skip
// decoding and naming events nobody asked for.
func (b *Bus) Wants(kind string) bool { return listens(*b.listened.Load(), kind) }

// WantsAll reports whether a subscriber wants every event of kind, not
// only a sample of them (SubscribeSample).
func (b *Bus) WantsAll(kind string) bool { return listens(*b.listenedAll.Load(), kind) }

func listens(m map[string]bool, kind string) bool { return len(m) > 0 && (m[""] || m[kind]) }

// Publish delivers e to every subscriber that wants it. Probes publish no
// events of workloads the agent's filters hide (cgroup.Resolver.Visible).
func (b *Bus) Publish(e Event) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	for s := range b.subs {
		if len(s.kinds) > 0 && !slices.Contains(s.kinds, e.Kind) || s.filter != nil && !s.filter(&e) {
			continue
		}
		select {
		case s.C <- e:
			if len(s.C) >= cap(s.C)/4 {
				select {
				case s.filling <- struct{}{}:
				default:
				}
			}
		default:
			s.dropped.Add(1)
		}
	}
}
