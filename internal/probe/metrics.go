package probe

import (
	"cmp"
	"slices"

	"github.com/cilium/ebpf"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/series"
)

// CollectPerCPU reads a per-CPU hash map keyed by cgroup id at scrape time:
// it sums each key's per-CPU values with add, folds cgroups that resolve to
// the same workload labels (a cgroup recreated under the same path has a new
// id), and calls emit once per workload, in label order.
func CollectPerCPU[V any](m *ebpf.Map, r Resolver, add func(dst, src *V), emit func(w cgroup.Workload, v *V)) error {
	return CollectPerCPUKeyed(m, r, cgroupKey, add, func(w cgroup.Workload, _ uint64, v *V) { emit(w, v) })
}

// CollectPerCPURows is CollectPerCPU for a probe that sends each
// workload's series through rows: fill sends a workload's series on its
// row. Workloads are named through cache, the table's own. When they go
// whole to a shaper, which orders what it exports itself, they are emitted
// in the table's order, not sorted (a tenth of a 10,000-pod scrape at owner
// level).
func CollectPerCPURows[V any](rows *series.Rows, cache *RowCache[V], m *ebpf.Map, r Resolver, add func(dst, src *V), fill func(row *series.Row, v *V)) error {
	if nr, ok := r.(namingResolver); ok {
		if stamp, ok := nr.NamesStamp(); ok {
			return cache.collect(rows, m, nr, stamp, add, fill, rows.InLabelOrder())
		}
	}
	return collectPerCPU(m, r, cgroupKey, add, func(w cgroup.Workload, _ uint64, v *V) {
		row := rows.Row(w)
		fill(row, v)
		row.Done()
	}, rows.InLabelOrder())
}

func cgroupKey(id uint64) (uint64, uint64) { return id, 0 }

// CollectPerCPUKeyed is CollectPerCPU for keys that hold a cgroup id and
// more (a syscall number, an errno): split returns a key's cgroup id and the
// key with that id zeroed, and emit is called once per workload and rest.
func CollectPerCPUKeyed[K comparable, V any](m *ebpf.Map, r Resolver, split func(K) (uint64, K), add func(dst, src *V), emit func(w cgroup.Workload, rest K, v *V)) error {
	return collectPerCPU(m, r, split, add, emit, true)
}

// collectPerCPU is CollectPerCPUKeyed, workloads in label order or, not
// ordered, in the table's.
func collectPerCPU[K comparable, V any](m *ebpf.Map, r Resolver, split func(K) (uint64, K), add func(dst, src *V), emit func(w cgroup.Workload, rest K, v *V), ordered bool) error {
	var rows perCPURows[K, V]
	err := ForEachPerCPU(m, func(key K, perCPU []V) {
		id, rest := split(key)
		w, ok := r.Visible(id)
		if !ok {
			return
		}
		w.ID = 0 // series are by labels: a recreated cgroup's ids are one workload
		row := rows.add()
		row.w, row.id, row.rest = w, id, rest
		for i := range perCPU {
			add(&row.v, &perCPU[i])
		}
	})
	if !ordered {
		rows.foldSamePath(add)
		for i := range rows.n {
			if row := rows.at(i); !row.folded {
				emit(row.w, row.rest, &row.v)
			}
		}
		return err
	}
	// Emit in label order: the registry sorts every metric's series by
	// label values, and on sorted input that sort is linear, not n log n
	// (a third of a 5,000-workload gather otherwise). Sorting indexes, not
	// rows, moves 4 bytes per swap instead of a workload.
	order := make([]int32, rows.n)
	for i := range order {
		order[i] = int32(i)
	}
	slices.SortFunc(order, func(a, b int32) int {
		ra, rb := rows.at(a), rows.at(b)
		return cmp.Or(series.CompareWorkloads(&ra.w, &rb.w), cmp.Compare(ra.id, rb.id))
	})
	for start := 0; start < len(order); {
		end := start + 1
		for end < len(order) && series.CompareWorkloads(&rows.at(order[start]).w, &rows.at(order[end]).w) == 0 {
			end++
		}
		rows.foldSameLabels(order[start:end], add)
		for _, i := range order[start:end] {
			if row := rows.at(i); !row.folded {
				emit(row.w, row.rest, &row.v)
			}
		}
		start = end
	}
	return err
}

// perCPURows are the keys of a per-CPU table as read, in chunks that never
// move: growing one slice would copy every row read so far.
type perCPURows[K comparable, V any] struct {
	chunks [][]perCPURow[K, V]
	n      int32
}

const rowChunk = 256

// add returns a new zero row.
func (r *perCPURows[K, V]) add() *perCPURow[K, V] {
	if int(r.n)%rowChunk == 0 {
		r.chunks = append(r.chunks, make([]perCPURow[K, V], rowChunk))
	}
	r.n++
	return r.at(r.n - 1)
}

func (r *perCPURows[K, V]) at(i int32) *perCPURow[K, V] {
	return &r.chunks[i/rowChunk][i%rowChunk]
}

// perCPURow is one key of a per-CPU table, its values summed over CPUs.
type perCPURow[K comparable, V any] struct {
	w      cgroup.Workload
	id     uint64
	rest   K
	v      V
	folded bool // added into an earlier row of the same labels and rest
}

// foldSameLabels adds rows of the same workload labels and rest into the
// first of them: cgroups recreated under one path have several ids, whose
// series are one. group is sorted by id, so a single id (the common case)
// has nothing to fold: each of its keys has a rest of its own.
func (r *perCPURows[K, V]) foldSameLabels(group []int32, add func(dst, src *V)) {
	if r.at(group[0]).id == r.at(group[len(group)-1]).id {
		return
	}
	first := make(map[K]*perCPURow[K, V], len(group))
	for _, i := range group {
		row := r.at(i)
		if into, ok := first[row.rest]; ok {
			add(&into.v, &row.v)
			row.folded = true
		} else {
			first[row.rest] = row
		}
	}
}

// foldSamePath adds each row into the first row read of the same path,
// labels and rest, as foldSameLabels does for rows sorted by labels.
func (r *perCPURows[K, V]) foldSamePath(add func(dst, src *V)) {
	type pathRest struct {
		path string
		rest K
	}
	first := make(map[pathRest]*perCPURow[K, V], r.n)
	for i := range r.n {
		row := r.at(i)
		k := pathRest{row.w.Path, row.rest}
		switch into, ok := first[k]; {
		case !ok:
			first[k] = row
		case series.CompareWorkloads(&into.w, &row.w) == 0:
			add(&into.v, &row.v)
			row.folded = true
		}
	}
}

// FoldVisible folds counts kept in user space by cgroup id into counts by
// workload: cgroups the resolver does not show are left out, and cgroups
// that resolve to the same labels (a cgroup recreated under the same path
// has a new id) are added together with add, into the first one's value.
func FoldVisible[V any](stats map[uint64]*V, r Resolver, add func(dst, src *V)) map[cgroup.Workload]*V {
	folded := make(map[cgroup.Workload]*V, len(stats))
	for id, v := range stats {
		w, ok := r.Visible(id)
		if !ok {
			continue
		}
		w.ID = 0
		if acc := folded[w]; acc != nil {
			add(acc, v)
		} else {
			folded[w] = v
		}
	}
	return folded
}
