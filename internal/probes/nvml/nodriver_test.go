package nvml_test

import (
	"context"
	"testing"

	"github.com/orb8/orb8/internal/agent/agenttest"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/nvml"
	"github.com/orb8/orb8/internal/testutil"
)

// Without an NVIDIA driver the probe is down and the agent runs the others.
func TestNoDriverProbeDownAgentRuns(t *testing.T) {
	testutil.RequireRoot(t)
	if err := nvml.New(nvml.DefaultOptions()).Start(context.Background(), probe.Env{}); err == nil {
		t.Skip("this host has an NVIDIA driver")
	}
	agenttest.DownAgentRuns(t, nvml.New(nvml.DefaultOptions()), "orb8_accelerator_utilization_ratio", "orb8_workload_accelerator_memory_used_bytes")
}
