package series

import (
	"slices"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
)

// TestRelabelKeepsLabelsWhileNamesStay: a refresher's labels are made
// again only when its cgroup's names change.
func TestRelabelKeepsLabelsWhileNamesStay(t *testing.T) {
	w := cgroup.Workload{Namespace: "ns", Pod: "p", Container: "c", Path: "/a", ContainerID: "x"}
	l := Relabel(nil, w)
	if !slices.Equal(l.values, []string{"ns", "p", "c", "/a"}) {
		t.Fatalf("labels %q", l.values)
	}
	w.ContainerID = "y" // not a label
	if Relabel(l, w) != l {
		t.Error("same names: labels made again")
	}
	w.Pod = "q"
	if m := Relabel(l, w); m == l || !slices.Equal(m.values, []string{"ns", "q", "c", "/a"}) {
		t.Errorf("new pod name: labels %q", m.values)
	}
}

// TestSortByWorkloadIsRegistryOrder: a table sorted by SortByWorkload
// yields samples in the order the exposition writes them, so a scrape of
// it sorts nothing.
func TestSortByWorkloadIsRegistryOrder(t *testing.T) {
	type row struct {
		w cgroup.Workload
		v float64
	}
	table := []row{
		{w: cgroup.Workload{Path: "/b", Namespace: "a", Pod: "z", Container: "c"}},
		{w: cgroup.Workload{Path: "/a", Namespace: "z", Pod: "a", Container: "c"}},
		{w: cgroup.Workload{Path: "/b", Namespace: "a", Pod: "y", Container: "c"}},
		{w: cgroup.Workload{Path: "/b", Namespace: "a", Pod: "y", Container: "b"}},
		{w: cgroup.Workload{Path: "/a/b"}},
	}
	SortByWorkload(table, func(r *row) *cgroup.Workload { return &r.w })
	var set Set
	d := set.Workload("orb8_test_sorted", "test")
	var samples []*sample
	for _, r := range table {
		samples = append(samples, Metric(d, prometheus.GaugeValue, r.v, r.w).(*sample))
	}
	if !slices.IsSortedFunc(samples, compareSamples) {
		for _, s := range samples {
			t.Log(s.labels)
		}
		t.Fatal("sorted table not in registry order")
	}
	if got := []string{table[0].w.Path, table[4].w.Path}; !slices.Equal(got, []string{"/a", "/b"}) {
		t.Errorf("first and last paths %q", got)
	}
}
