package lru

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

// model is the table's meaning, kept the plain way: keys newest first.
type model struct {
	size  int
	order []int
	vals  map[int]int
}

func (m *model) put(k, v int) (evictedKey int, evicted bool) {
	if _, ok := m.vals[k]; !ok && len(m.order) == m.size {
		evictedKey, evicted = m.order[len(m.order)-1], true
		m.del(evictedKey)
	}
	m.del(k)
	m.order = append([]int{k}, m.order...)
	m.vals[k] = v
	return evictedKey, evicted
}

func (m *model) del(k int) {
	m.order = slices.DeleteFunc(m.order, func(x int) bool { return x == k })
	delete(m.vals, k)
}

// Random puts, deletes, touches, in-place changes and expiries of more keys
// than the table holds, checked against the model after every step; in one
// chunk of slots (not doubled, doubled, whole), and in several.
func TestTableMatchesModel(t *testing.T) {
	for _, size := range []int{6, 5*firstChunkLen + 3, chunkLen, 3*chunkLen + 10} {
		t.Run(fmt.Sprint(size), func(t *testing.T) { testTableMatchesModel(t, size) })
	}
}

func testTableMatchesModel(t *testing.T, size int) {
	tab := New[int, int](size)
	m := &model{size: size, vals: map[int]int{}}
	rng := rand.New(rand.NewPCG(1, 2))
	for step := range 20000 {
		k := rng.IntN(size + size/2)
		switch op := rng.IntN(10); {
		case op < 5:
			gotK, _, gotEv := tab.Put(k, step)
			wantK, wantEv := m.put(k, step)
			if gotEv != wantEv || gotEv && gotK != wantK {
				t.Fatalf("step %d: Put(%d) evicted (%d, %v), want (%d, %v)", step, k, gotK, gotEv, wantK, wantEv)
			}
		case op < 7:
			tab.Delete(k)
			m.del(k)
		case op < 8:
			tab.Touch(k)
			if v, ok := m.vals[k]; ok {
				m.put(k, v)
			}
		case op < 9:
			if v, ok := tab.Get(k); ok {
				*v = -step
				m.vals[k] = -step
			} else if _, ok := m.vals[k]; ok {
				t.Fatalf("step %d: Get(%d) missed", step, k)
			}
		default: // expire the entries put before a step drawn near now
			before := step - rng.IntN(3*size)
			var gone []int
			tab.ExpireWhile(func(v *int) bool { return *v >= 0 && *v < before || *v < 0 && -*v < before },
				func(k, _ int) { gone = append(gone, k) })
			for len(m.order) > 0 {
				k := m.order[len(m.order)-1]
				if v := m.vals[k]; !(v >= 0 && v < before || v < 0 && -v < before) {
					break
				}
				if len(gone) == 0 || gone[0] != k {
					t.Fatalf("step %d: expired %v, want %d next", step, gone, k)
				}
				gone = gone[1:]
				m.del(k)
			}
			if len(gone) != 0 {
				t.Fatalf("step %d: expired %v too many", step, gone)
			}
		}
		var keys []int
		for k, v := range tab.All {
			keys = append(keys, k)
			if *v != m.vals[k] {
				t.Fatalf("step %d: %d = %d, want %d", step, k, *v, m.vals[k])
			}
		}
		if !slices.Equal(keys, m.order) || tab.Len() != len(m.order) {
			t.Fatalf("step %d: order %v (len %d), want %v", step, keys, tab.Len(), m.order)
		}
	}
}

func TestTableAllocatesNothingOnceGrown(t *testing.T) {
	tab := New[int, string](100)
	for i := range 100 {
		tab.Put(i, "x")
	}
	i := 100
	allocs := testing.AllocsPerRun(1000, func() {
		tab.Put(i, "y") // evicts
		tab.Delete(i - 50)
		tab.Put(i-50, "z") // a freed slot
		i++
	})
	if allocs != 0 {
		t.Fatalf("%v allocations per put and delete", allocs)
	}
}
