package tpu_test

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/tpu"
	"github.com/orb8/orb8/internal/testutil"
)

// The agent exports exactly the gauges a TPU workload's service serves,
// as that workload's, with the probe up.
func TestAgentExportsFakeLibtpuGauges(t *testing.T) {
	testutil.RequireRoot(t)
	cg, _ := tpu.StartWorkload(t, "127.0.0.1:8431")
	opts := tpu.DefaultOptions()
	opts.Interval, opts.Timeout = time.Second, 500*time.Millisecond
	res := testutil.Resolver(t)
	a := agent.NewWithProbes(config.Default(), slog.Default(), res, []probe.Probe{tpu.NewForTest(opts, "", "/proc", tpu.TPUSysfs(t))})
	a.Start(context.Background())
	defer a.Close()

	if v, _ := testutil.Sample(t, a.Registry(), "orb8_probe_up", map[string]string{"probe": "tpu"}); v != 1 {
		t.Fatalf("orb8_probe_up{probe=tpu} = %v, want 1", v)
	}
	want := tpu.WantedFromFake()
	var got map[string]map[string]float64
	testutil.Eventually(t, 10*time.Second, func() bool {
		got = tpu.WorkloadGauge(t, a.Registry(), cg.Path)
		return fmt.Sprint(got) == fmt.Sprint(want)
	}, "the agent's series of %s: %v, want %v", cg.Path, stringer(func() string { return fmt.Sprint(got) }), want)
}

type stringer func() string

func (s stringer) String() string { return s() }
