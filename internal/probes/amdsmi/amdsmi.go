//go:build cgo

// Package amdsmi is the AMD GPU probe: per-GPU utilization, memory,
// temperature, power, PCIe throughput and throttling from AMD SMI
// (libamd_smi), per-process GPU memory and engine time attributed to
// workloads through the process's cgroup, and, from the kubelet, which pod
// holds which GPU (amd.com/gpu). amd-smi is dlopened at run time: a host
// without ROCm gets an error from Start, and the probe reports down.
package amdsmi

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/accelerator"
	"github.com/orb8/orb8/internal/gpu"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/tick"
)

// Probe polls amd-smi and exports the last poll's series, all of them in
// the shared accelerator families.
type Probe struct {
	accelerator.Series

	opts Options
	proc string // procfs mount: GPU processes' cgroups and names
	env  probe.Env
	pods *gpu.PodResources

	gpus    []gpuInfo
	version version

	mu       sync.Mutex
	engine   map[procKey]engineSample // per GPU and process: the last engine time read
	mismatch bool                     // a process record did not match /proc: logged once

	stop func() // ends the polls
}

// gpuInfo is what does not change about a GPU while the agent runs.
type gpuInfo struct {
	h                  handle
	index, uuid, model string
	bdf                string
}

// New returns an unstarted amd-smi probe of this host; podResourcesSocket
// is the kubelet's pod-resources API (absent: no GPU-to-pod allocation).
func New(opts Options, podResourcesSocket string) *Probe {
	return newProbe(opts, podResourcesSocket, "/proc")
}

func newProbe(opts Options, podResourcesSocket, proc string) *Probe {
	return &Probe{opts: opts, proc: proc, pods: gpu.NewPodResources(podResourcesSocket), engine: map[procKey]engineSample{}}
}

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe: amd-smi needs no BPF.
func (p *Probe) Objects() *probe.Objects { return nil }

// Start implements probe.Probe: it fails without amd-smi or an AMD GPU.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	err := open(p.opts.Library)
	if err != nil && !strings.Contains(p.opts.Library, "/") {
		if errROCm := open(rocmLibrary); errROCm == nil {
			err = nil
		} else {
			err = errors.Join(err, errROCm)
		}
	}
	if err != nil {
		return fmt.Errorf("amd-smi: %w (no ROCm on this host?)", err)
	}
	handles, err := processors()
	if err == nil && len(handles) == 0 {
		err = errors.New("amd-smi lists no AMD GPU")
	}
	if err != nil {
		shutDown()
		return err
	}
	p.env = env
	p.version, _ = libVersion()
	p.gpus = make([]gpuInfo, len(handles))
	for i, h := range handles {
		p.gpus[i] = gpuInfo{h: h, index: fmt.Sprint(i), uuid: h.uuid(), model: h.model(), bdf: h.bdf()}
	}
	if !p.version.hasProcInfo() {
		env.Log.Info("amd-smi before 24.5 lists processes without their memory: per-workload AMD GPU memory comes from the drm probe only", "version", p.version)
	}
	p.poll(ctx)
	ctx, cancel := context.WithCancel(ctx)
	stop := tick.Every(ctx, max(p.opts.Interval, 2*time.Second), func(time.Time) { p.poll(ctx) })
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
	return errors.Join(p.pods.Close(), shutDown())
}

// Describe implements probe.Probe: every series is of a shared family.
func (p *Probe) Describe(chan<- *prometheus.Desc) {}

// Collect implements probe.Probe: CollectShared sends the series.
func (p *Probe) Collect(chan<- prometheus.Metric) error { return nil }
