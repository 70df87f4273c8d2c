package series

import "github.com/orb8/orb8/internal/cgroup"

// Ordered keeps a refresher's tracked cgroups in CompareWorkloads order, so
// that the table it builds by walking them comes out sorted without a sort
// at every refresh (10,000 workloads: ~7 ms of CPU a sort here). Their
// order is their cgroup paths', which a tracked cgroup keeps: it sorts
// again only after cgroups came or went, or a workload changed.
type Ordered[T any] struct {
	workload func(*T) *cgroup.Workload
	rows     []*T
	changed  bool
}

// NewOrdered orders entries by the workload that workload returns.
func NewOrdered[T any](workload func(*T) *cgroup.Workload) *Ordered[T] {
	return &Ordered[T]{workload: workload}
}

// Changed says that an entry was added, or its workload changed.
func (o *Ordered[T]) Changed() { o.changed = true }

// Rows returns tracked's entries in order; a removed entry alone (tracked
// shrank) sorts them again too. Callers must not modify the slice.
func (o *Ordered[T]) Rows(tracked map[uint64]*T) []*T {
	if o.changed || len(o.rows) != len(tracked) {
		o.rows = o.rows[:0]
		for _, e := range tracked {
			o.rows = append(o.rows, e)
		}
		SortByWorkload(o.rows, func(e **T) *cgroup.Workload { return o.workload(*e) })
		o.changed = false
	}
	return o.rows
}
