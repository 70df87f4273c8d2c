package tpu_test

import (
	"context"
	"log/slog"
	"testing"

	"github.com/orb8/orb8/internal/agent/agenttest"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/tpu"
)

// Without a TPU the probe is down and the agent runs the others.
func TestNoTPUProbeDownAgentRuns(t *testing.T) {
	if err := tpu.New(tpu.DefaultOptions(), "").Start(context.Background(), probe.Env{Log: slog.Default()}); err == nil {
		t.Skip("this host has a TPU")
	}
	agenttest.DownAgentRuns(t, tpu.New(tpu.DefaultOptions(), ""),
		"orb8_workload_accelerator_memory_used_bytes", "orb8_workload_accelerator_utilization_ratio", "orb8_tpu_endpoints")
}
