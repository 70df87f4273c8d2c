package agent

import (
	"reflect"
	"slices"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/amdsmi"
	"github.com/orb8/orb8/internal/probes/cgroups"
	"github.com/orb8/orb8/internal/probes/cpu"
	"github.com/orb8/orb8/internal/probes/cuda"
	"github.com/orb8/orb8/internal/probes/dns"
	"github.com/orb8/orb8/internal/probes/drm"
	"github.com/orb8/orb8/internal/probes/enforce"
	"github.com/orb8/orb8/internal/probes/fds"
	"github.com/orb8/orb8/internal/probes/http"
	"github.com/orb8/orb8/internal/probes/memory"
	"github.com/orb8/orb8/internal/probes/network"
	"github.com/orb8/orb8/internal/probes/neuron"
	"github.com/orb8/orb8/internal/probes/nvml"
	"github.com/orb8/orb8/internal/probes/process"
	"github.com/orb8/orb8/internal/probes/sched"
	"github.com/orb8/orb8/internal/probes/syscalls"
	"github.com/orb8/orb8/internal/probes/tpu"
)

// probeKind is one entry of the probe catalogue: a probe family, whether it
// runs by default, the kinds of event it publishes, its options within
// Config (nil without settings), and how to build it.
type probeKind struct {
	name      string
	byDefault bool
	events    []string
	programs  probe.Programs // what each BPF program costs when refused
	options   func(c *Config) options
	build     func(r *cgroup.Resolver, c *Config) probe.Probe
}

// catalog lists every probe family the agent knows, in start order.
var catalog = []probeKind{
	{cgroups.Name, true, nil, cgroups.Programs, nil, func(r *cgroup.Resolver, _ *Config) probe.Probe { return cgroups.New(r) }},
	{process.Name, true, process.EventKinds, process.Programs, nil, func(*cgroup.Resolver, *Config) probe.Probe { return process.New() }},
	{sched.Name, true, nil, sched.Programs, func(c *Config) options { return &c.Sched },
		func(_ *cgroup.Resolver, c *Config) probe.Probe { return sched.New(c.Sched) }},
	{syscalls.Name, false, syscalls.EventKinds, syscalls.Programs, func(c *Config) options { return &c.Syscalls },
		func(_ *cgroup.Resolver, c *Config) probe.Probe { return syscalls.New(c.Syscalls) }},
	{cuda.Name, true, cuda.EventKinds, cuda.Programs, func(c *Config) options { return &c.CUDA },
		func(_ *cgroup.Resolver, c *Config) probe.Probe { return cuda.New(c.CUDA) }},
	{nvml.Name, true, nil, probe.Programs{}, func(c *Config) options { return &c.NVML },
		func(_ *cgroup.Resolver, c *Config) probe.Probe { return nvml.New(c.NVML) }},
	{tpu.Name, true, nil, probe.Programs{}, func(c *Config) options { return &c.TPU },
		func(_ *cgroup.Resolver, c *Config) probe.Probe { return tpu.New(c.TPU, c.NVML.PodResourcesSocket) }},
	{amdsmi.Name, true, nil, probe.Programs{}, func(c *Config) options { return &c.AMDSMI },
		func(_ *cgroup.Resolver, c *Config) probe.Probe {
			return amdsmi.New(c.AMDSMI, c.NVML.PodResourcesSocket)
		}},
	{neuron.Name, true, nil, probe.Programs{}, func(c *Config) options { return &c.Neuron },
		func(_ *cgroup.Resolver, c *Config) probe.Probe {
			return neuron.New(c.Neuron, c.NVML.PodResourcesSocket)
		}},
	{drm.Name, true, nil, probe.Programs{}, nil, func(*cgroup.Resolver, *Config) probe.Probe { return drm.New() }},
	{dns.Name, true, dns.EventKinds, dns.Programs, nil, func(*cgroup.Resolver, *Config) probe.Probe { return dns.New() }},
	// Off by default: ~1.3 us of BPF per HTTP head, ~50 ns more on every
	// other TCP data packet of the node, and a trap pair per libssl
	// SSL_read/SSL_write call (docs/benchmarks.md, HTTP and HTTPS).
	{http.Name, false, http.EventKinds, http.Programs, func(c *Config) options { return &c.HTTP },
		func(_ *cgroup.Resolver, c *Config) probe.Probe { return http.NewWithOptions(c.HTTP) }},
	{network.Name, true, network.EventKinds, network.Programs, nil,
		func(*cgroup.Resolver, *Config) probe.Probe { return network.New(network.DefaultFlowTableSize) }},
	{memory.Name, true, memory.EventKinds, memory.Programs, func(c *Config) options { return &c.Memory },
		func(_ *cgroup.Resolver, c *Config) probe.Probe { return memory.New(c.Memory) }},
	{fds.Name, true, nil, fds.Programs, nil, func(*cgroup.Resolver, *Config) probe.Probe { return fds.New() }},
	{cpu.Name, true, nil, cpu.Programs, nil, func(*cgroup.Resolver, *Config) probe.Probe { return cpu.New() }},
	// Runs with --policy-dir only (enabledProbes).
	{enforce.Name, false, enforce.EventKinds, enforce.Programs, nil, func(*cgroup.Resolver, *Config) probe.Probe { return enforce.New() }},
}

// ProbeFamily is one probe of the catalogue, as the kernel requirements
// page (hack/kernelreq) lists it.
type ProbeFamily struct {
	Name string
	// Package is the import path of the probe's package, the directory
	// its BPF objects are generated into.
	Package  string
	Programs probe.Programs
}

// ProbeFamilies lists every probe of the catalogue, in start order.
func ProbeFamilies() []ProbeFamily {
	cfg := DefaultConfig()
	out := make([]ProbeFamily, len(catalog))
	for i, k := range catalog {
		out[i] = ProbeFamily{Name: k.name, Package: reflect.TypeOf(k.build(nil, &cfg)).Elem().PkgPath(), Programs: k.programs}
	}
	return out
}

// ProbeNames lists the names of all known probes.
func ProbeNames() []string {
	names := make([]string, len(catalog))
	for i, k := range catalog {
		names[i] = k.name
	}
	return names
}

// EventKinds lists the kinds of event some probe publishes, in catalogue
// order, then the agent's own: what `orb8 trace` offers.
func EventKinds() []string {
	var kinds []string
	for _, k := range catalog {
		for _, kind := range k.events {
			if !slices.Contains(kinds, kind) {
				kinds = append(kinds, kind)
			}
		}
	}
	// The agent's own: anomalies of behaviour profiles.
	return append(kinds, events.KindAnomaly)
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

// enabledProbes are the probes cfg runs: the enforce probe exactly when
// there are policies to enforce.
func enabledProbes(cfg *Config) []string {
	names := slices.DeleteFunc(cfg.EnabledProbes(ProbeNames(), defaultProbeNames()), func(n string) bool { return n == enforce.Name })
	if cfg.Policies() {
		names = append(names, enforce.Name)
	}
	return names
}

func buildProbes(names []string, r *cgroup.Resolver, c *Config) []probe.Probe {
	var out []probe.Probe
	for _, k := range catalog {
		for _, n := range names {
			if n == k.name {
				out = append(out, k.build(r, c))
			}
		}
	}
	return out
}
