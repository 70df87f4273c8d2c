package nvml_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/nvml"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/testutil"
)

// Without an NVIDIA driver the probe is down and the agent runs the others.
func TestNoDriverProbeDownAgentRuns(t *testing.T) {
	testutil.RequireRoot(t)
	if err := nvml.New(nvml.DefaultOptions()).Start(context.Background(), probe.Env{}); err == nil {
		t.Skip("this host has an NVIDIA driver")
	}
	res := testutil.Resolver(t)
	a := agent.NewWithProbes(config.Default(), slog.Default(), res, []probe.Probe{nvml.New(nvml.DefaultOptions()), process.New()})
	a.Start(context.Background())
	defer a.Close()

	if v, ok := testutil.Sample(t, a.Registry(), "orb8_probe_up", map[string]string{"probe": "nvml"}); !ok || v != 0 {
		t.Fatalf("orb8_probe_up{probe=nvml} = %v (present %v), want 0", v, ok)
	}
	if v, _ := testutil.Sample(t, a.Registry(), "orb8_probe_up", map[string]string{"probe": "process"}); v != 1 {
		t.Fatalf("orb8_probe_up{probe=process} = %v, want 1: the NVML failure took another probe down", v)
	}
	cg := testutil.NewCgroup(t)
	cg.Run(t, "/bin/true")
	testutil.Eventually(t, 3*time.Second, func() bool {
		v, _ := testutil.Sample(t, a.Registry(), "orb8_process_exec_total", map[string]string{"cgroup": cg.Path})
		return v == 1
	}, "process probe does not count while NVML is down")
}
