package dns

import (
	"sync"

	"github.com/orb8/orb8/internal/events"
)

// recentRing keeps the last finished lookups for the query API.
type recentRing struct {
	mu   sync.Mutex
	buf  []events.Event
	next int // slot the next event goes to
	full bool
}

func newRecentRing(size int) *recentRing { return &recentRing{buf: make([]events.Event, max(size, 1))} }

func (r *recentRing) add(e events.Event) {
	r.mu.Lock()
	r.buf[r.next] = e
	r.next++
	if r.next == len(r.buf) {
		r.next, r.full = 0, true
	}
	r.mu.Unlock()
}

// last returns up to limit of the newest events keep accepts (nil keeps
// all), oldest first. limit <= 0 means as many as the ring holds.
func (r *recentRing) last(limit int, keep func(*events.Event) bool) []events.Event {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := r.next
	if r.full {
		n = len(r.buf)
	}
	if limit <= 0 || limit > n {
		limit = n
	}
	out := make([]events.Event, 0, limit)
	for i := 1; i <= n && len(out) < limit; i++ {
		e := &r.buf[(r.next-i+len(r.buf))%len(r.buf)]
		if keep == nil || keep(e) {
			out = append(out, *e)
		}
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return out
}
