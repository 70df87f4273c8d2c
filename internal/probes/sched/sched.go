// Package sched is the scheduler probe: run-queue latency (how long runnable
// tasks wait for a CPU) as a log2 histogram per workload, aggregated in the
// kernel.
package sched

import (
	"context"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
)

// Name is the probe's name in configuration and metrics.
const Name = "sched"

var latencyDesc = probe.WorkloadDesc("orb8_sched_runqueue_latency_seconds",
	"Time the workload's threads waited on a run queue for a CPU: from wakeup, or from preemption while runnable, until running.")

// Probe is the run-queue latency probe.
type Probe struct {
	objs *probe.Objects
	env  probe.Env
	// tuneSpec adjusts the collection before loading (tests shrink maps).
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
	if p.tuneSpec != nil {
		p.tuneSpec(spec)
	}
	objs, err := probe.Load(spec, probe.LoadOptions{Required: []string{"handle_wakeup", "handle_wakeup_new", "handle_switch"}})
	if err != nil {
		return err
	}
	p.objs, p.env = objs, env
	return nil
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	if p.objs == nil {
		return nil
	}
	err := p.objs.Close()
	p.objs = nil
	return err
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
