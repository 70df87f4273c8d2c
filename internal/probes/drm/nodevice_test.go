package drm_test

import (
	"context"
	"testing"

	"github.com/orb8/orb8/internal/agent/agenttest"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/drm"
	"github.com/orb8/orb8/internal/testutil"
)

// Without a DRM device the probe is down and the agent runs the others.
func TestNoDeviceProbeDownAgentRuns(t *testing.T) {
	testutil.RequireRoot(t)
	if err := drm.New().Start(context.Background(), probe.Env{}); err == nil {
		t.Skip("this host has a DRM device")
	}
	agenttest.DownAgentRuns(t, drm.New(), "orb8_workload_accelerator_engine_busy_seconds_total", "orb8_workload_accelerator_memory_region_bytes", "orb8_accelerator_engine_capacity")
}
