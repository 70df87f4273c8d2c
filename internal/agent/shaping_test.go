package agent

import (
	"testing"
	"time"

	dto "github.com/prometheus/client_model/go"

	"github.com/orb8/orb8/internal/testutil"
)

// runAgent starts `orb8 agent` with args on a free port and returns its
// URL once it is ready.
func runAgent(t *testing.T, args ...string) string {
	t.Helper()
	url, _ := testutil.RunAgent(t, args...)
	return url
}

// execsByCgroup is orb8_process_exec_total of a cgroup-level scrape, by cgroup.
func execsByCgroup(t *testing.T, url string) map[string]float64 {
	t.Helper()
	return counterBy(t, url, "orb8_process_exec_total", "cgroup")
}

// counterBy is counter name of a scrape of url, by the value of label.
func counterBy(t *testing.T, url, name, label string) map[string]float64 {
	t.Helper()
	out := map[string]float64{}
	for _, m := range family(t, url, name).GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == label {
				out[l.GetValue()] = m.GetCounter().GetValue()
			}
		}
	}
	return out
}

// family scrapes url and returns metric name (nil when absent).
func family(t *testing.T, url, name string) *dto.MetricFamily {
	t.Helper()
	families, err := scrape(t, url).Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			return f
		}
	}
	return nil
}

// nodeExecs is the one series of orb8_process_exec_total at node level.
func nodeExecs(t *testing.T, url string) float64 {
	t.Helper()
	f := family(t, url, "orb8_process_exec_total")
	if len(f.GetMetric()) != 1 || len(f.Metric[0].GetLabel()) != 0 {
		t.Fatalf("orb8_process_exec_total at node level: want one series without labels, got %v", f.GetMetric())
	}
	return f.Metric[0].GetCounter().GetValue()
}

// othersBetween bounds the execs of the node outside cgroup skip between
// two cgroup-level scrapes: what every cgroup of after gained since before
// (a cgroup new in after gained all it has).
func othersBetween(before, after map[string]float64, skip string) float64 {
	var n float64
	for cg, v := range after {
		if cg != skip {
			n += v - before[cg]
		}
	}
	return n
}

// TestNodeAggregationCountsExactExecs is the acceptance check of metric
// shaping: `orb8 agent --aggregation node --disable-metrics orb8_open_fds`
// exports one orb8_process_exec_total without workload labels that grows by
// exactly the execs of a test cgroup, and keeps them once the cgroup is
// gone; orb8_open_fds is absent. A cgroup-level agent beside it counts the
// node's other execs: its scrapes bracket the node-level one in time, so
// the node-level count must lie between what the two brackets saw.
func TestNodeAggregationCountsExactExecs(t *testing.T) {
	testutil.RequireRoot(t)
	// The node-level agent forgets removed cgroups after 2 s; the
	// cgroup-level one keeps them for its default 5 minutes, so that its
	// brackets see every cgroup that came and went meanwhile.
	const grace = 2 * time.Second
	node := runAgent(t, "--aggregation", "node", "--disable-metrics", "orb8_open_fds", "--gone-grace", grace.String())
	cgroupLevel := runAgent(t)
	if family(t, cgroupLevel, "orb8_open_fds") == nil {
		t.Fatal("orb8_open_fds missing at cgroup level: its absence below would prove nothing")
	}
	if f := family(t, node, "orb8_open_fds"); f != nil {
		t.Fatalf("orb8_open_fds exported with --disable-metrics orb8_open_fds: %v", f)
	}
	const n = 40
	// window runs do (n execs of cg, or its removal) between two node-level
	// scrapes, each bracketed by cgroup-level ones, and checks that the
	// node level gained want plus the node's other execs meanwhile. false:
	// the node ran too many other execs to tell n apart, try again.
	window := func(cg *testutil.Cgroup, want float64, do func()) bool {
		b1 := execsByCgroup(t, cgroupLevel)
		n1 := nodeExecs(t, node)
		b2 := execsByCgroup(t, cgroupLevel)
		do()
		b3 := execsByCgroup(t, cgroupLevel)
		n2 := nodeExecs(t, node)
		b4 := execsByCgroup(t, cgroupLevel)
		gained, lo, hi := n2-n1, othersBetween(b2, b3, cg.Path), othersBetween(b1, b4, cg.Path)
		t.Logf("node level gained %v: want %v plus the node's other execs, %v..%v", gained, want, lo, hi)
		if gained-want < lo || gained-want > hi {
			t.Fatalf("node level gained %v: want %v plus the node's other %v..%v", gained, want, lo, hi)
		}
		return hi-lo < n
	}
	execs := func(cg *testutil.Cgroup) func() {
		return func() {
			for range n {
				cg.Run(t, "/bin/true")
			}
			testutil.Eventually(t, 5*time.Second, func() bool { return execsByCgroup(t, cgroupLevel)[cg.Path] == n },
				"the cgroup-level agent never counted the %d execs of %s", n, cg.Path)
		}
	}
	gone := func(cg *testutil.Cgroup) func() {
		return func() {
			if err := removeDir(cg.Dir); err != nil {
				t.Fatal(err)
			}
			// Past the grace period and the next forget tick (a tenth of
			// the grace, at least 1 s) of the node-level agent.
			time.Sleep(2*grace + 2*time.Second)
		}
	}
	for attempt := 1; ; attempt++ {
		// The cgroup's execs count once; once it is gone and the
		// node-level agent forgot it, the node level keeps them.
		cg := testutil.NewCgroup(t)
		if window(cg, n, execs(cg)) && window(cg, 0, gone(cg)) {
			return
		}
		if attempt == 5 {
			t.Fatalf("the node never quiet enough to tell %d execs apart", n)
		}
	}
}
