package series

import (
	"slices"
	"testing"

	"github.com/orb8/orb8/internal/cgroup"
)

func TestOrderedSortsOnlyAfterChanges(t *testing.T) {
	type entry struct{ w cgroup.Workload }
	o := NewOrdered(func(e *entry) *cgroup.Workload { return &e.w })
	paths := func(rows []*entry) []string {
		var out []string
		for _, e := range rows {
			out = append(out, e.w.Path)
		}
		return out
	}
	m := map[uint64]*entry{}
	for i, p := range []string{"/c", "/a", "/d", "/b"} {
		m[uint64(i)] = &entry{cgroup.Workload{Path: p}}
	}
	if got := paths(o.Rows(m)); !slices.Equal(got, []string{"/a", "/b", "/c", "/d"}) {
		t.Fatalf("first rows %v", got)
	}
	// Unchanged: the order stays as it was, even for a workload changed
	// without Changed (nothing is compared).
	m[1].w.Path = "/z"
	if got := paths(o.Rows(m)); !slices.Equal(got, []string{"/z", "/b", "/c", "/d"}) {
		t.Fatalf("rows without a change: %v, want the last order", got)
	}
	o.Changed()
	if got := paths(o.Rows(m)); !slices.Equal(got, []string{"/b", "/c", "/d", "/z"}) {
		t.Fatalf("rows after Changed: %v", got)
	}
	delete(m, 2) // "/d"
	if got := paths(o.Rows(m)); !slices.Equal(got, []string{"/b", "/c", "/z"}) {
		t.Fatalf("rows after a removal: %v", got)
	}
	m[7] = &entry{cgroup.Workload{Path: "/a"}}
	o.Changed()
	if got := paths(o.Rows(m)); !slices.Equal(got, []string{"/a", "/b", "/c", "/z"}) {
		t.Fatalf("rows after an addition: %v", got)
	}
}
