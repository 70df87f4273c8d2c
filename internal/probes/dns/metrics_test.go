package dns

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

type fakeResolver map[uint64]cgroup.Workload

func (f fakeResolver) Lookup(id uint64) cgroup.Workload          { return f[id] }
func (f fakeResolver) Visible(id uint64) (cgroup.Workload, bool) { return f[id], !f[id].Hidden }

func TestHiddenWorkloadHasNoSeries(t *testing.T) {
	const shownCgroup = testCgroup + 1
	p := &Probe{tracker: newTracker(testConfig()), env: probe.Env{Resolver: fakeResolver{
		testCgroup:  {ID: testCgroup, Path: "/hidden", Hidden: true},
		shownCgroup: {ID: shownCgroup, Path: "/shown"},
	}}}
	p.tracker.packet(query(t, 0, 1, "a.example."))
	shown := query(t, 0, 1, "a.example.")
	shown.cgroup = shownCgroup
	p.tracker.packet(shown)
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(testutil.Collector(t, p))
	if v, ok := testutil.Sample(t, reg, "orb8_dns_queries_total", map[string]string{"cgroup": "/shown", "qtype": "A"}); !ok || v != 1 {
		t.Fatalf("queries of the shown workload = %v (found %v), want 1; series: %s", v, ok, testutil.Series(t, reg, "orb8_dns_queries_total"))
	}
	for _, name := range []string{"orb8_dns_queries_total", "orb8_dns_unmatched_responses_total", "orb8_dns_latency_seconds"} {
		if v, ok := testutil.Sample(t, reg, name, map[string]string{"cgroup": "/hidden"}); ok {
			t.Errorf("%s of a hidden workload = %v, want no series", name, v)
		}
	}
}
