// Package agenttest holds test helpers that run an agent, for the tests of
// probe families (testutil cannot: the agent's own tests import it).
package agenttest

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/testutil"
)

// DownAgentRuns runs an agent with a probe that cannot start on this host
// and the process probe, and checks that the probe reports down
// (orb8_probe_up 0) and exports none of the families named, while the
// process probe is up and counts an exec in a test cgroup.
func DownAgentRuns(t *testing.T, down probe.Probe, families ...string) {
	t.Helper()
	testutil.RequireRoot(t)
	res := testutil.Resolver(t)
	a := agent.NewWithProbes(config.Default(), slog.Default(), res, []probe.Probe{down, process.New()})
	a.Start(context.Background())
	defer a.Close()

	name := down.Name()
	if v, ok := testutil.Sample(t, a.Registry(), "orb8_probe_up", map[string]string{"probe": name}); !ok || v != 0 {
		t.Fatalf("orb8_probe_up{probe=%s} = %v (present %v), want 0", name, v, ok)
	}
	if v, _ := testutil.Sample(t, a.Registry(), "orb8_probe_up", map[string]string{"probe": "process"}); v != 1 {
		t.Fatalf("orb8_probe_up{probe=process} = %v, want 1: the %s failure took another probe down", v, name)
	}
	for _, f := range families {
		if s := testutil.Series(t, a.Registry(), f); s != "" {
			t.Errorf("%s is down but exports %s: %s", name, f, s)
		}
	}
	cg := testutil.NewCgroup(t)
	cg.Run(t, "/bin/true")
	testutil.Eventually(t, 3*time.Second, func() bool {
		v, _ := testutil.Sample(t, a.Registry(), "orb8_process_exec_total", map[string]string{"cgroup": cg.Path})
		return v == 1
	}, "process probe does not count while %s is down", name)
}
