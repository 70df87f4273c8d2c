// Package neuron is the AWS Trainium and Inferentia probe: per-NeuronCore
// utilization and device memory from the Neuron driver's sysfs tree
// (/sys/devices/virtual/neuron_device), per-device figures in the shared
// accelerator families, and, from the kubelet, which pod holds which
// Neuron device or NeuronCore. No BPF and no library: a host without a
// Neuron device gets an error from Start, and the probe reports down.
package neuron

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/accelerator"
	"github.com/orb8/orb8/internal/gpu"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/tick"
)

// Probe reads the Neuron sysfs counters and exports the last poll's
// series.
type Probe struct {
	accelerator.Series

	opts Options
	sys  string // sysfs mount
	env  probe.Env
	pods *gpu.PodResources

	driver  string // the driver's version, as its file says; "" unknown
	devices []device
	last    map[[2]int]timeSample // per device and core: the last time-in-use read

	mu   sync.Mutex
	stop func()
}

// timeSample is a core's time in use at a poll.
type timeSample struct {
	us uint64
	at time.Time
}

// New returns an unstarted Neuron probe of this host; podResourcesSocket
// is the kubelet's pod-resources API (absent: no device-to-pod
// allocation).
func New(opts Options, podResourcesSocket string) *Probe {
	return newProbe(opts, podResourcesSocket, "/sys")
}

func newProbe(opts Options, podResourcesSocket, sys string) *Probe {
	return &Probe{opts: opts, sys: sys, pods: gpu.NewPodResources(podResourcesSocket), last: map[[2]int]timeSample{}}
}

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe: the Neuron probe needs no BPF.
func (p *Probe) Objects() *probe.Objects { return nil }

// Start implements probe.Probe: it fails on a host without a Neuron
// device, or with a driver whose sysfs tree holds no counter orb8 knows.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	v, err := readVersion(p.sys)
	devices, derr := discover(p.sys, v, err == nil)
	if derr != nil {
		return derr
	}
	if err == nil {
		p.driver = v.String()
	}
	p.env, p.devices = env, devices
	p.poll(ctx, time.Now())
	ctx, cancel := context.WithCancel(ctx)
	stop := tick.Every(ctx, max(p.opts.Interval, time.Second), func(now time.Time) { p.poll(ctx, now) })
	p.stop = func() { cancel(); stop() }
	return nil
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	if p.stop == nil {
		return nil
	}
	p.stop()
	p.stop = nil
	return p.pods.Close()
}

// Describe implements probe.Probe: the probe's own families.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Collect implements probe.Probe: the last poll's series of the probe's
// own families (CollectShared sends the others).
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	p.CollectOwn(ch)
	return nil
}
