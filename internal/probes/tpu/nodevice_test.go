package tpu_test

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/probes/tpu"
	"github.com/orb8/orb8/internal/testutil"
)

// Without a TPU the probe is down and the agent runs the others.
func TestNoTPUProbeDownAgentRuns(t *testing.T) {
	testutil.RequireRoot(t)
	if err := tpu.New(tpu.DefaultOptions(), "").Start(context.Background(), probe.Env{Log: slog.Default()}); err == nil {
		t.Skip("this host has a TPU")
	}
	res := testutil.Resolver(t)
	a := agent.NewWithProbes(config.Default(), slog.Default(), res, []probe.Probe{tpu.New(tpu.DefaultOptions(), ""), process.New()})
	a.Start(context.Background())
	defer a.Close()

	if v, ok := testutil.Sample(t, a.Registry(), "orb8_probe_up", map[string]string{"probe": "tpu"}); !ok || v != 0 {
		t.Fatalf("orb8_probe_up{probe=tpu} = %v (present %v), want 0", v, ok)
	}
	if v, _ := testutil.Sample(t, a.Registry(), "orb8_probe_up", map[string]string{"probe": "process"}); v != 1 {
		t.Fatalf("orb8_probe_up{probe=process} = %v, want 1: the TPU failure took another probe down", v)
	}
	cg := testutil.NewCgroup(t)
	cg.Run(t, "/bin/true")
	testutil.Eventually(t, 3*time.Second, func() bool {
		v, _ := testutil.Sample(t, a.Registry(), "orb8_process_exec_total", map[string]string{"cgroup": cg.Path})
		return v == 1
	}, "process probe does not count while the TPU probe is down")
}
