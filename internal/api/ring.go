package api

// ring keeps the last size values put in it: memory is bounded, the oldest
// go first, and grows only as values come.
type ring[T any] struct {
	items   []T
	size    int
	next    int    // where the next value goes once full
	evicted uint64 // values pushed out by newer ones
}

func newRing[T any](size int) ring[T] { return ring[T]{size: size} }

func (r *ring[T]) put(v T) {
	if len(r.items) < r.size {
		r.items = append(r.items, v)
		return
	}
	r.evicted++
	r.items[r.next] = v
	r.next = (r.next + 1) % r.size
}

// all is a copy of the values, oldest first.
func (r *ring[T]) all() []T {
	return append(append([]T(nil), r.items[r.next:]...), r.items[:r.next]...)
}

// oldest is the oldest value held; ok is false when there is none.
func (r *ring[T]) oldest() (v T, ok bool) {
	if len(r.items) == 0 {
		return v, false
	}
	return r.items[r.next], true
}
