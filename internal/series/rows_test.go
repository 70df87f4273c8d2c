package series

import (
	"fmt"
	"math/rand/v2"
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
	var points []point
	for _, r := range table {
		points = append(points, point{labels: Metric(d, prometheus.GaugeValue, r.v, r.w).(*sample).labels})
	}
	if !slices.IsSortedFunc(points, d.comparePoints) {
		for _, p := range points {
			t.Log(p.labels)
		}
		t.Fatal("sorted table not in registry order")
	}
	if got := []string{table[0].w.Path, table[4].w.Path}; !slices.Equal(got, []string{"/a", "/b"}) {
		t.Errorf("first and last paths %q", got)
	}
}

// TestSortPointsIsRegistryOrder: rows in label order whose own series are
// not (the insertion sort), and series in no order at all (past its budget,
// the general sort), come out as the registry orders them.
func TestSortPointsIsRegistryOrder(t *testing.T) {
	var set Set
	d := set.Workload("orb8_test_sort_total", "test", "direction", "protocol")
	var rows []point
	for i := range 200 {
		w := cgroup.Workload{Path: fmt.Sprintf("/w%03d", i)}
		for _, dir := range []string{"tx", "rx"} {
			for _, proto := range []string{"udp", "tcp"} {
				rows = append(rows, point{labels: Metric(d, prometheus.CounterValue, 1, w, dir, proto).(*sample).labels})
			}
		}
	}
	want := slices.Clone(rows)
	slices.SortFunc(want, d.comparePoints)
	shuffled := slices.Clone(rows)
	rand.New(rand.NewPCG(1, 2)).Shuffle(len(shuffled), func(i, j int) { shuffled[i], shuffled[j] = shuffled[j], shuffled[i] })
	reversed := slices.Clone(want)
	slices.Reverse(reversed)
	for _, c := range []struct {
		name    string
		in      []point
		general bool
	}{{"rows out of order", rows, false}, {"shuffled", shuffled, true}, {"reversed", reversed, true}} {
		got := slices.Clone(c.in)
		if general := sortPoints(d, got); general != c.general {
			t.Errorf("%s: general sort %v, want %v", c.name, general, c.general)
		}
		if !slices.EqualFunc(got, want, func(a, b point) bool { return slices.Equal(a.labels, b.labels) }) {
			t.Errorf("%s: not in registry order", c.name)
		}
	}
}
