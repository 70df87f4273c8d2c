package probe

import (
	"slices"
	"sync"

	"github.com/cilium/ebpf"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/series"
)

// RowCache is what the collections of one per-CPU table keyed by cgroup id
// named its ids, kept while the resolver's names stay (cgroup.NamesStamp):
// a collection finds each id's workload labels, made and hashed once, by
// one map lookup on the id, and folds the ids of one workload by them, with
// no naming, copying or hashing of strings per id (at owner level those
// were half a 10,000-pod scrape). For rows sent in label order it keeps
// the last collection's order, so only workloads new since are sorted.
// A probe keeps one per table; the zero value is ready. Collections that
// use it run one at a time.
type RowCache[V any] struct {
	mu    sync.Mutex
	stamp cgroup.NamesStamp
	byID  map[uint64]*cachedID
	// byLabels are the workloads of byID by their label values: the ids of
	// a cgroup recreated under one path share one.
	byLabels map[[4]string]*cachedWorkload
	gen      uint64 // collections so far
	// A collection's rows, in the table's order: each workload's values
	// summed over CPUs and ids.
	values    []V
	workloads []*cachedWorkload
	// sorted are the last ordered collection's workloads in label order.
	sorted []*cachedWorkload
}

// cachedID is an id as its last collection found it; workload nil: hidden.
type cachedID struct {
	workload *cachedWorkload
	seen     uint64 // the collection that last read it
}

type cachedWorkload struct {
	labels *series.WorkloadLabels
	seen   uint64 // the collection that last read one of its ids
	row    int    // its row in that collection
	sorted bool   // in RowCache.sorted
}

// namingResolver is a Resolver that says while its names stay
// (*cgroup.Resolver): without it every collection names every id.
type namingResolver interface {
	NamesStamp() (cgroup.NamesStamp, bool)
	VisibleNamed(id uint64) (w cgroup.Workload, ok, named bool)
}

// collect reads m as collectPerCPU does, the workloads of one label set
// folded, and sends one row per workload, in label order if ordered, else
// in the table's.
func (c *RowCache[V]) collect(rows *series.Rows, m *ebpf.Map, r namingResolver, stamp cgroup.NamesStamp, add func(dst, src *V), fill func(row *series.Row, v *V), ordered bool) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.byID == nil || c.stamp != stamp {
		c.byID, c.byLabels, c.stamp = map[uint64]*cachedID{}, map[[4]string]*cachedWorkload{}, stamp
	}
	defer func() { // also after a fill that panicked (an invalid label value)
		clear(c.workloads) // for the collector
		c.values, c.workloads = c.values[:0], c.workloads[:0]
	}()
	c.gen++
	ids := 0
	err := ForEachPerCPU(m, func(id uint64, perCPU []V) {
		e := c.byID[id]
		if e == nil {
			e = c.name(r, id)
		}
		if e.seen != c.gen {
			e.seen = c.gen
			ids++
		}
		cw := e.workload
		if cw == nil {
			return
		}
		if cw.seen != c.gen {
			cw.seen, cw.row = c.gen, len(c.values)
			var zero V
			c.values = append(c.values, zero)
			c.workloads = append(c.workloads, cw)
		}
		v := &c.values[cw.row]
		for i := range perCPU {
			add(v, &perCPU[i])
		}
	})
	emit := c.workloads
	if ordered {
		emit = c.inLabelOrder()
	}
	for _, cw := range emit {
		row := rows.RowOf(cw.labels)
		fill(row, &c.values[cw.row])
		row.Done()
	}
	if ids < len(c.byID) {
		c.forgetUnseen()
	}
	return err
}

// inLabelOrder returns the collection's workloads in label order: those
// of the last ordered collection still read, in the order kept, merged
// with the others, sorted.
func (c *RowCache[V]) inLabelOrder() []*cachedWorkload {
	kept := c.sorted[:0]
	for _, cw := range c.sorted {
		if cw.seen == c.gen {
			kept = append(kept, cw)
		} else {
			cw.sorted = false
		}
	}
	clear(c.sorted[len(kept):])
	var added []*cachedWorkload
	for _, cw := range c.workloads {
		if !cw.sorted {
			cw.sorted = true
			added = append(added, cw)
		}
	}
	if len(added) == 0 {
		c.sorted = kept
		return kept
	}
	compare := func(a, b *cachedWorkload) int { return series.CompareWorkloadLabels(a.labels, b.labels) }
	slices.SortFunc(added, compare)
	merged := make([]*cachedWorkload, 0, len(kept)+len(added))
	for len(kept) > 0 && len(added) > 0 {
		if compare(kept[0], added[0]) < 0 {
			merged, kept = append(merged, kept[0]), kept[1:]
		} else {
			merged, added = append(merged, added[0]), added[1:]
		}
	}
	c.sorted = append(append(merged, kept...), added...)
	return c.sorted
}

// name names an id the cache does not know; an id the resolver could not
// name is named again by the next collection.
func (c *RowCache[V]) name(r namingResolver, id uint64) *cachedID {
	w, visible, named := r.VisibleNamed(id)
	e := &cachedID{}
	if named {
		c.byID[id] = e
	} else {
		e.seen = c.gen // not counted among the cached ids read
	}
	if !visible {
		return e
	}
	labels := [4]string{w.Namespace, w.Pod, w.Container, w.Path} // series are by labels
	cw := c.byLabels[labels]
	if cw == nil {
		cw = &cachedWorkload{labels: series.NewWorkloadLabels(w)}
		c.byLabels[labels] = cw
	}
	e.workload = cw
	return e
}

// forgetUnseen forgets the ids, and the workloads, that the collection did
// not read: the cache holds what the table holds.
func (c *RowCache[V]) forgetUnseen() {
	for id, e := range c.byID {
		if e.seen != c.gen {
			delete(c.byID, id)
		}
	}
	for labels, cw := range c.byLabels {
		if cw.seen != c.gen {
			delete(c.byLabels, labels)
		}
	}
}
