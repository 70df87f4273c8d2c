// Package lru is a map with a size limit that keeps its entries in the
// order they were last put, so that the stalest expire, or make room,
// first.
//
// Entries live in slots, linked by index, and a freed or evicted slot takes
// the next entry: once a table has grown, putting and deleting allocate
// nothing, and its index holds no pointers for the garbage collector to
// scan. Slots come in chunks, so growing past the first never copies them
// or leaves the old array behind as garbage, and memory follows use; the
// first chunk starts small and doubles, so that the many tables that hold
// a few entries (one per HTTP/2 connection) stay small. The agent's per-event tables (flows, pending
// DNS queries) see tens of thousands of updates a second.
package lru

// Table is a bounded map ordered from the most to the least recently put
// entry. Not safe for concurrent use.
type Table[K comparable, V any] struct {
	max            int
	chunks         [][]slot[K, V]
	used           int32 // slots handed out so far
	index          map[K]int32
	newest, oldest int32 // slot indexes; -1: empty
	free           int32 // a deleted entry's slot, chained through older; -1: none
}

const (
	chunkBits = 8
	chunkLen  = 1 << chunkBits
	// firstChunkLen is the first chunk's length before it doubles.
	firstChunkLen = 8
)

type slot[K comparable, V any] struct {
	key          K
	val          V
	newer, older int32 // neighbours in put order; -1: none
}

// New returns an empty table that holds at most size entries (at least 1).
func New[K comparable, V any](size int) *Table[K, V] {
	return &Table[K, V]{max: max(size, 1), index: make(map[K]int32), newest: -1, oldest: -1, free: -1}
}

// Len returns the number of entries.
func (t *Table[K, V]) Len() int { return len(t.index) }

// Get returns the value under k, to read or change in place: the pointer is
// good until the next Put or Delete. Order does not change.
func (t *Table[K, V]) Get(k K) (*V, bool) {
	i, ok := t.index[k]
	if !ok {
		return nil, false
	}
	return &t.at(i).val, true
}

// Touch makes k's entry the newest, as a Put of its value would.
func (t *Table[K, V]) Touch(k K) {
	if i, ok := t.index[k]; ok {
		t.makeNewest(i)
	}
}

// Put stores v under k as the newest entry. When the table is full the
// oldest entry gives way and is returned with evicted = true.
func (t *Table[K, V]) Put(k K, v V) (oldK K, oldV V, evicted bool) {
	if i, ok := t.index[k]; ok {
		t.at(i).val = v
		t.makeNewest(i)
		return oldK, oldV, false
	}
	var i int32
	switch {
	case len(t.index) >= t.max:
		i = t.oldest
		t.unlink(i)
		oldK, oldV, evicted = t.at(i).key, t.at(i).val, true
		delete(t.index, oldK)
	case t.free >= 0:
		i, t.free = t.free, t.at(t.free).older
	default:
		t.grow()
		i = t.used
		t.used++
	}
	s := t.at(i)
	s.key, s.val = k, v
	t.index[k] = i
	t.pushNewest(i)
	return oldK, oldV, evicted
}

// Delete removes k; a missing key is fine.
func (t *Table[K, V]) Delete(k K) {
	if i, ok := t.index[k]; ok {
		t.remove(i)
	}
}

// ExpireWhile removes entries from the oldest on while stale says so, and
// hands each to gone.
func (t *Table[K, V]) ExpireWhile(stale func(*V) bool, gone func(K, V)) {
	for t.oldest >= 0 && stale(&t.at(t.oldest).val) {
		s := *t.at(t.oldest)
		t.remove(t.oldest)
		gone(s.key, s.val)
	}
}

// All yields the entries from the newest to the oldest; yield must not
// change the table.
func (t *Table[K, V]) All(yield func(K, *V) bool) {
	for i := t.newest; i >= 0; i = t.at(i).older {
		if s := t.at(i); !yield(s.key, &s.val) {
			return
		}
	}
}

// grow makes room for slot t.used, if it has none: the first chunk
// doubles up to chunkLen (or the table's size), later chunks come whole.
func (t *Table[K, V]) grow() {
	n := len(t.chunks)
	switch {
	case n == 0:
		t.chunks = append(t.chunks, make([]slot[K, V], min(firstChunkLen, t.max)))
	case int(t.used) < (n-1)*chunkLen+len(t.chunks[n-1]):
	case n == 1 && len(t.chunks[0]) < chunkLen:
		first := make([]slot[K, V], min(2*len(t.chunks[0]), chunkLen, t.max))
		copy(first, t.chunks[0])
		t.chunks[0] = first
	default:
		t.chunks = append(t.chunks, make([]slot[K, V], chunkLen))
	}
}

func (t *Table[K, V]) at(i int32) *slot[K, V] { return &t.chunks[i>>chunkBits][i&(chunkLen-1)] }

// remove frees slot i, dropping what its entry referenced.
func (t *Table[K, V]) remove(i int32) {
	t.unlink(i)
	delete(t.index, t.at(i).key)
	*t.at(i) = slot[K, V]{older: t.free}
	t.free = i
}

func (t *Table[K, V]) makeNewest(i int32) {
	if i != t.newest {
		t.unlink(i)
		t.pushNewest(i)
	}
}

func (t *Table[K, V]) unlink(i int32) {
	s := t.at(i)
	if s.newer >= 0 {
		t.at(s.newer).older = s.older
	} else {
		t.newest = s.older
	}
	if s.older >= 0 {
		t.at(s.older).newer = s.newer
	} else {
		t.oldest = s.newer
	}
}

func (t *Table[K, V]) pushNewest(i int32) {
	s := t.at(i)
	s.newer, s.older = -1, t.newest
	if t.newest >= 0 {
		t.at(t.newest).newer = i
	} else {
		t.oldest = i
	}
	t.newest = i
}
