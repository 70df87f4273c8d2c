package export_test

import (
	"os"
	"slices"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/testutil"
)

// seriesOf lists the metrics that have a series labelled cgroup=path.
func seriesOf(t *testing.T, a *agent.Agent, path string) []string {
	t.Helper()
	families, err := a.Gatherer().Gather()
	if err != nil {
		t.Logf("gather: %v", err)
	}
	var names []string
	for _, f := range families {
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "cgroup" && l.GetValue() == path && !slices.Contains(names, f.GetName()) {
					names = append(names, f.GetName())
				}
			}
		}
	}
	return names
}

// TestRemovedWorkloadSeriesGoAfterGrace runs every default probe: a removed
// cgroup keeps its series for --gone-grace, then no metric carries it.
func TestRemovedWorkloadSeriesGoAfterGrace(t *testing.T) {
	const grace = 3 * time.Second
	cfg := agent.DefaultConfig()
	cfg.Probes = []string{"default"}
	cfg.GoneGrace = grace
	testutil.RequireRoot(t)
	a, err := agent.New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	a.Start(t.Context())
	defer a.Close()

	cg := testutil.NewCgroup(t)
	for range 3 {
		cg.Run(t, "/bin/sh", "-c", "echo x > /dev/null")
	}
	testutil.Eventually(t, 3*time.Second, func() bool { return slices.Contains(seriesOf(t, a, cg.Path), "orb8_process_exec_total") },
		"no orb8_process_exec_total series for %s", cg.Path)
	before := seriesOf(t, a, cg.Path)
	removed := time.Now()
	testutil.Eventually(t, 5*time.Second, func() bool { return os.Remove(cg.Dir) == nil }, "cannot remove %s", cg.Dir)

	if during := seriesOf(t, a, cg.Path); time.Since(removed) < grace && !slices.Contains(during, "orb8_process_exec_total") {
		t.Errorf("series went before the grace period: before %v, right after removal %v", before, during)
	}
	var left []string
	testutil.Eventually(t, grace+5*time.Second, func() bool { left = seriesOf(t, a, cg.Path); return len(left) == 0 },
		"metrics still carrying removed cgroup %s after the grace period: %v (of %v)", cg.Path, left, before)
	if gone := time.Since(removed); gone < grace {
		t.Errorf("series went %v after removal, before the %v grace period", gone, grace)
	}
	t.Logf("series of %v gone %v after removal", before, time.Since(removed).Round(100*time.Millisecond))
}
