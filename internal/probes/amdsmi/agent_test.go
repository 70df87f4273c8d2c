//go:build cgo

package amdsmi_test

import (
	"context"
	"log/slog"
	"path/filepath"
	"testing"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/agent/agenttest"
	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/amdsmi"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/testutil"
)

// Without amd-smi the probe is down and the agent runs the others.
func TestNoLibraryProbeDownAgentRuns(t *testing.T) {
	opts := amdsmi.DefaultOptions()
	opts.Library = filepath.Join(t.TempDir(), "libamd_smi.so")
	agenttest.DownAgentRuns(t, amdsmi.New(opts, filepath.Join(t.TempDir(), "kubelet.sock")),
		"orb8_accelerator_utilization_ratio", "orb8_accelerator_memory_used_bytes")
}

// With amd-smi, the agent exports the probe's series in the shared
// accelerator families, next to the other probes'.
func TestAgentExportsAMDGPUs(t *testing.T) {
	testutil.RequireRoot(t)
	opts := amdsmi.DefaultOptions()
	opts.Library = amdsmi.StandIn(t)
	res := testutil.Resolver(t)
	a := agent.NewWithProbes(config.Default(), slog.Default(), res,
		[]probe.Probe{amdsmi.New(opts, filepath.Join(t.TempDir(), "kubelet.sock")), process.New()})
	a.Start(context.Background())
	defer a.Close()
	for probe, want := range map[string]float64{"amdsmi": 1, "process": 1} {
		if v, ok := testutil.Sample(t, a.Registry(), "orb8_probe_up", map[string]string{"probe": probe}); !ok || v != want {
			t.Fatalf("orb8_probe_up{probe=%s} = %v (present %v), want %v", probe, v, ok, want)
		}
	}
	gpu0 := map[string]string{"vendor": "amd", "device": "0", "model": "AMD Instinct MI300X"}
	if v, ok := testutil.Sample(t, a.Registry(), "orb8_accelerator_utilization_ratio", gpu0); !ok || v != 0.75 {
		t.Fatalf("orb8_accelerator_utilization_ratio%v = %v (present %v), want 0.75; series: %s", gpu0, v, ok,
			testutil.Series(t, a.Registry(), "orb8_accelerator_utilization_ratio"))
	}
}
