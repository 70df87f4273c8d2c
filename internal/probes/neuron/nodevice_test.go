package neuron_test

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/orb8/orb8/internal/agent/agenttest"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/neuron"
)

// Without a Neuron device the probe is down and the agent runs the others.
func TestNoDeviceProbeDownAgentRuns(t *testing.T) {
	socket := filepath.Join(t.TempDir(), "kubelet.sock")
	if err := neuron.New(neuron.DefaultOptions(), socket).Start(context.Background(), probe.Env{}); err == nil {
		t.Skip("this host has a Neuron device")
	}
	agenttest.DownAgentRuns(t, neuron.New(neuron.DefaultOptions(), socket),
		"orb8_accelerator_core_utilization_ratio", "orb8_accelerator_memory_used_bytes", "orb8_neuron_driver_info")
}
