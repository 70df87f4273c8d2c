package api

// ring keeps the last len(items) values put in it: memory is bounded, the
// oldest go first.
type ring[T any] struct {
	items   []T
	next    int
	full    bool
	evicted uint64 // values pushed out by newer ones
}

func newRing[T any](size int) ring[T] { return ring[T]{items: make([]T, size)} }

func (r *ring[T]) put(v T) {
	if r.full {
		r.evicted++
	}
	r.items[r.next] = v
	r.next = (r.next + 1) % len(r.items)
	r.full = r.full || r.next == 0
}

// all is a copy of the values, oldest first.
func (r *ring[T]) all() []T {
	if !r.full {
		return append([]T(nil), r.items[:r.next]...)
	}
	return append(append([]T(nil), r.items[r.next:]...), r.items[:r.next]...)
}

// oldest is the oldest value held; ok is false when there is none.
func (r *ring[T]) oldest() (v T, ok bool) {
	switch {
	case r.full:
		return r.items[r.next], true
	case r.next > 0:
		return r.items[0], true
	}
	return v, false
}
