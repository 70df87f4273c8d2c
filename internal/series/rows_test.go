package series

import (
	"slices"
	"testing"

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
