package agent

import (
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/cgroups"
	"github.com/orb8/orb8/internal/probes/cpu"
	"github.com/orb8/orb8/internal/probes/cuda"
	"github.com/orb8/orb8/internal/probes/dns"
	"github.com/orb8/orb8/internal/probes/fds"
	"github.com/orb8/orb8/internal/probes/memory"
	"github.com/orb8/orb8/internal/probes/network"
	"github.com/orb8/orb8/internal/probes/nvml"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/probes/sched"
	"github.com/orb8/orb8/internal/probes/syscalls"
)

// probeKind is one entry of the probe catalogue.
type probeKind struct {
	name      string
	byDefault bool
	build     func(r *cgroup.Resolver) probe.Probe
}

// catalog lists every probe family the agent knows, in start order.
var catalog = []probeKind{
	{cgroups.Name, true, func(r *cgroup.Resolver) probe.Probe { return cgroups.New(r) }},
	{process.Name, true, func(*cgroup.Resolver) probe.Probe { return process.New() }},
	{sched.Name, true, func(*cgroup.Resolver) probe.Probe { return sched.New() }},
	{syscalls.Name, false, func(*cgroup.Resolver) probe.Probe { return syscalls.New() }},
	{cuda.Name, true, func(*cgroup.Resolver) probe.Probe { return cuda.New() }},
	{nvml.Name, true, func(*cgroup.Resolver) probe.Probe { return nvml.New() }},
	{dns.Name, true, func(*cgroup.Resolver) probe.Probe { return dns.New() }},
	{network.Name, true, func(*cgroup.Resolver) probe.Probe { return network.New(network.DefaultFlowTableSize) }},
	{memory.Name, true, func(*cgroup.Resolver) probe.Probe { return memory.New() }},
	{fds.Name, true, func(*cgroup.Resolver) probe.Probe { return fds.New() }},
	{cpu.Name, true, func(*cgroup.Resolver) probe.Probe { return cpu.New() }},
}

// ProbeNames lists the names of all known probes.
func ProbeNames() []string {
	names := make([]string, len(catalog))
	for i, k := range catalog {
		names[i] = k.name
	}
	return names
}

func defaultProbeNames() []string {
	var names []string
	for _, k := range catalog {
		if k.byDefault {
			names = append(names, k.name)
		}
	}
	return names
}

func buildProbes(names []string, r *cgroup.Resolver) []probe.Probe {
	var out []probe.Probe
	for _, k := range catalog {
		for _, n := range names {
			if n == k.name {
				out = append(out, k.build(r))
			}
		}
	}
	return out
}
