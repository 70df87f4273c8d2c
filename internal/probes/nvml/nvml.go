//go:build cgo

// Package nvml is the NVML probe: per-GPU utilization, memory, temperature,
// power, PCIe throughput and throttle reasons; per-process GPU memory and SM
// utilization attributed to workloads through the process's cgroup; and, from
// the kubelet, which pod holds which GPU. NVML is dlopened at run time: a host
// without the driver gets an error from Start, and the probe reports down.
package nvml

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/accelerator"
	"github.com/orb8/orb8/internal/gpu"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/tick"
)

// Probe polls NVML and exports the last poll's series.
type Probe struct {
	accelerator.Series // the last poll's series; a scrape only sends them

	opts Options
	lib  nvml.Interface
	proc string // procfs mount, for the cgroups of GPU processes
	env  probe.Env
	pods *gpu.PodResources

	mu       sync.Mutex
	lastSeen map[string]uint64 // per GPU UUID: newest process utilization sample read

	stop func() // ends the polls
}

// New returns an unstarted NVML probe over the system's libnvidia-ml.
func New(opts Options) *Probe { return newWithLibrary(opts, nvml.New(), "/proc") }

func newWithLibrary(opts Options, lib nvml.Interface, proc string) *Probe {
	return &Probe{opts: opts, lib: lib, proc: proc, lastSeen: map[string]uint64{}}
}

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe: NVML needs no BPF.
func (p *Probe) Objects() *probe.Objects { return nil }

// Start implements probe.Probe: it fails without an NVIDIA driver.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	if ret := p.lib.Init(); ret != nvml.SUCCESS {
		return fmt.Errorf("NVML: %s (no NVIDIA driver on this host?)", nvml.ErrorString(ret))
	}
	p.env = env
	p.pods = gpu.NewPodResources(p.opts.PodResourcesSocket)
	if err := p.poll(ctx); err != nil {
		p.pods.Close() // the poll may have dialled the kubelet
		p.lib.Shutdown()
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	stop := tick.Every(ctx, max(p.opts.Interval, time.Second), func(time.Time) {
		if err := p.poll(ctx); err != nil {
			p.env.Log.Warn("NVML poll", "err", err)
		}
	})
	p.stop = func() { cancel(); stop() } // cancel first: a poll in progress ends early
	return nil
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	if p.stop == nil {
		return nil
	}
	p.stop()
	p.stop = nil
	p.pods.Close()
	if ret := p.lib.Shutdown(); ret != nvml.SUCCESS {
		return fmt.Errorf("NVML shutdown: %s", nvml.ErrorString(ret))
	}
	return nil
}

// Describe implements probe.Probe.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Collect implements probe.Probe: the series of the last poll.
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	p.CollectOwn(ch)
	return nil
}
