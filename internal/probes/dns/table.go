package dns

import "container/list"

// boundedTable is a map with a size limit that remembers the order in which
// keys were last put, so the stalest entries expire (or make room) first.
type boundedTable[K comparable, V any] struct {
	max   int
	items map[K]*list.Element
	order list.List // of *tableEntry[K, V], oldest first
}

type tableEntry[K comparable, V any] struct {
	key K
	val V
}

func newBoundedTable[K comparable, V any](max int) *boundedTable[K, V] {
	return &boundedTable[K, V]{max: max, items: make(map[K]*list.Element)}
}

func (t *boundedTable[K, V]) Len() int { return len(t.items) }

func (t *boundedTable[K, V]) Get(k K) (V, bool) {
	if e, ok := t.items[k]; ok {
		return e.Value.(*tableEntry[K, V]).val, true
	}
	var zero V
	return zero, false
}

// Put stores v under k as the newest entry. When the table is full the
// oldest entry gives way and is returned with evicted = true.
func (t *boundedTable[K, V]) Put(k K, v V) (oldK K, oldV V, evicted bool) {
	if e, ok := t.items[k]; ok {
		e.Value.(*tableEntry[K, V]).val = v
		t.order.MoveToBack(e)
		return oldK, oldV, false
	}
	if len(t.items) >= t.max {
		if front := t.order.Front(); front != nil {
			old := front.Value.(*tableEntry[K, V])
			t.order.Remove(front)
			delete(t.items, old.key)
			oldK, oldV, evicted = old.key, old.val, true
		}
	}
	t.items[k] = t.order.PushBack(&tableEntry[K, V]{key: k, val: v})
	return oldK, oldV, evicted
}

// Delete removes k; a missing key is fine.
func (t *boundedTable[K, V]) Delete(k K) {
	if e, ok := t.items[k]; ok {
		t.order.Remove(e)
		delete(t.items, k)
	}
}

// ExpireWhile removes entries from the oldest on while stale says so, and
// hands each to gone.
func (t *boundedTable[K, V]) ExpireWhile(stale func(V) bool, gone func(K, V)) {
	for front := t.order.Front(); front != nil; front = t.order.Front() {
		e := front.Value.(*tableEntry[K, V])
		if !stale(e.val) {
			return
		}
		t.order.Remove(front)
		delete(t.items, e.key)
		gone(e.key, e.val)
	}
}
