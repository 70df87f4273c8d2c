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
)

// Name is the probe's name in configuration and metrics.
const Name = "sched"

var latencyDesc = probe.WorkloadDesc("orb8_sched_runqueue_latency_seconds",
	"Time the workload's threads waited on a run queue for a CPU: from wakeup, or from preemption while runnable, until running.")

// Programs: the two ways sched.bpf.c times waits. The kernel's own
// run-queue stamps cost one program on sched_switch; without
// CONFIG_SCHED_INFO (or FAIR_GROUP_SCHED) the probe stamps wakeups itself.
var Programs = probe.Programs{
	Required: []string{"handle_switch"},
	Fallback: map[string][]string{"handle_switch": {"fallback_wakeup", "fallback_wakeup_new", "fallback_switch"}},
}

var (
	schedInfo = Programs.Required
	wakeups   = Programs.Fallback["handle_switch"]
)

// Probe is the run-queue latency probe.
type Probe struct {
	objs *probe.Objects
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
	if err := probe.SetLoadTime(spec, "loaded_at_ns"); err != nil {
		return err
	}
	if p.tuneSpec != nil {
		p.tuneSpec(spec)
	}
	objs, err := loadOnly(spec, schedInfo)
	if err != nil {
		if env.Log != nil {
			env.Log.Info("sched: kernel run-queue stamps unusable, timing wakeups instead", "err", err)
		}
		if objs, err = loadOnly(spec, wakeups); err != nil {
			return err
		}
	}
	p.objs, p.env = objs, env
	return nil
}

// loadOnly loads the named programs of spec, all required, and no others.
func loadOnly(spec *ebpf.CollectionSpec, names []string) (*probe.Objects, error) {
	s := spec.Copy()
	for name := range s.Programs {
		if !slices.Contains(names, name) {
			delete(s.Programs, name)
		}
	}
	return probe.Load(s, probe.LoadOptions{Programs: probe.Programs{Required: names}})
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	return probe.Release(&p.objs)
}

// Forget implements probe.Forgetter.
func (p *Probe) Forget(ids []uint64) {
	if p.objs != nil {
		probe.DeleteKeys(p.objs.Maps["runq_latency"], ids)
	}
}

// Describe implements prometheus.Collector.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { ch <- latencyDesc }

// Collect implements prometheus.Collector: one pass over the in-kernel histograms.
func (p *Probe) Collect(ch chan<- prometheus.Metric) {
	if p.objs == nil {
		return
	}
	_ = probe.CollectPerCPU(p.objs.Maps["runq_latency"], p.env.Resolver, (*probe.Log2Hist).Add, func(w cgroup.Workload, h *probe.Log2Hist) {
		ch <- probe.WorkloadHistogram(latencyDesc, h, w)
	})
}
