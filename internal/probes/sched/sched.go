// Package sched is the scheduler probe: run-queue latency (how long runnable
// tasks wait for a CPU) as a log2 histogram per workload, aggregated in the
// kernel.
package sched

import (
	"context"
	"slices"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
)

// Name is the probe's name in configuration and metrics.
const Name = "sched"

// metrics are the series the probe exports: what Describe sends.
var metrics series.Set

var latencyDesc = metrics.WorkloadHistogram("orb8_sched_runqueue_latency_seconds",
	"Time the workload's threads waited on a run queue for a CPU: from wakeup, or from preemption while runnable, until running.", series.Log2Bounds())

// Programs: the two ways sched.bpf.c times waits. The kernel's own
// run-queue stamps cost one program on sched_switch; without
// CONFIG_SCHED_INFO (or FAIR_GROUP_SCHED) the probe stamps wakeups itself.
var Programs = probe.Programs{
	Required: []string{schedProgHandleSwitch},
	Fallback: map[string][]string{schedProgHandleSwitch: {schedProgFallbackWakeup, schedProgFallbackWakeupNew, schedProgFallbackSwitch}},
}

var (
	schedInfo = Programs.Required
	wakeups   = Programs.Fallback[schedProgHandleSwitch]
)

// Probe is the run-queue latency probe.
type Probe struct {
	objs *probe.Objects
	bpf  schedObjects
	env  probe.Env
	// tuneSpec adjusts the collection before loading (tests shrink maps,
	// or drop programs to force the fallback).
	tuneSpec func(*ebpf.CollectionSpec)
}

// New returns an unstarted scheduler probe.
func New() *Probe { return &Probe{} }

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects { return p.objs }

// Start implements probe.Probe.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	spec, err := loadSched()
	if err != nil {
		return err
	}
	if err := probe.SetLoadTime(spec, schedVarLoadedAtNs); err != nil {
		return err
	}
	if p.tuneSpec != nil {
		p.tuneSpec(spec)
	}
	// The kernel's own run-queue stamps cost one program on sched_switch;
	// without CONFIG_SCHED_INFO (or FAIR_GROUP_SCHED) stamp wakeups ourselves.
	objs, err := p.loadOnly(spec, schedInfo)
	if err != nil {
		if env.Log != nil {
			env.Log.Info("sched: kernel run-queue stamps unusable, timing wakeups instead", "err", err)
		}
		if objs, err = p.loadOnly(spec, wakeups); err != nil {
			return err
		}
	}
	p.objs, p.env = objs, env
	return nil
}

// loadOnly loads the named programs of spec, all required, and no others.
func (p *Probe) loadOnly(spec *ebpf.CollectionSpec, names []string) (*probe.Objects, error) {
	s := spec.Copy()
	for name := range s.Programs {
		if !slices.Contains(names, name) {
			delete(s.Programs, name)
		}
	}
	return probe.Load(s, &p.bpf, probe.LoadOptions{Programs: probe.Programs{Required: names}, PerCgroup: []string{schedMapRunqLatency}})
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	return probe.Release(&p.objs)
}

// Describe implements probe.Probe.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Collect implements probe.Probe: one pass over the in-kernel histograms.
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	if p.objs == nil {
		return nil
	}
	return probe.CollectPerCPU(p.bpf.RunqLatency, p.env.Resolver, (*series.Log2Hist).Add, func(w cgroup.Workload, h *series.Log2Hist) {
		ch <- series.Histogram(latencyDesc, h, w)
	})
}
