// Package sched is the scheduler probe: per workload, how long its threads
// waited runnable for a CPU and how many times they got one, from what the
// kernel already counts per thread; and, opt-in, run-queue latency as a
// log2 histogram timed on every context switch. Both aggregate in the
// kernel.
package sched

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/btf"
	"github.com/cilium/ebpf/link"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
)

// Name is the probe's name in configuration and metrics.
const Name = "sched"

// flushEvery: a pass over every thread of the node, so not every second; a
// thread that ends is flushed when its task is freed.
const flushEvery = 5 * time.Second

// metrics are the series the probe exports: what Describe sends.
var metrics series.Set

var (
	waitDesc = metrics.Workload("orb8_sched_runqueue_wait_seconds_total",
		"Time the workload's threads waited runnable on a run queue for a CPU, as the kernel counts it per thread (sched_info.run_delay); updated every 5 s and when a thread ends (is reaped).")
	timeslicesDesc = metrics.Workload("orb8_sched_timeslices_total",
		"Times the workload's threads were put on a CPU, as the kernel counts it per thread (sched_info.pcount); the mean wait per timeslice is rate(orb8_sched_runqueue_wait_seconds_total) / rate(orb8_sched_timeslices_total).")
	latencyDesc = metrics.WorkloadHistogram("orb8_sched_runqueue_latency_seconds",
		"Time the workload's threads waited on a run queue for a CPU: from wakeup, or from preemption while runnable, until running (only with --sched-runqueue-histogram).", series.Log2Bounds())
)

// Programs: the flushes of the kernel's per-thread counts make the probe;
// the per-switch histogram is opt-in. It times waits with the kernel's own
// run-queue stamps in one program on sched_switch; without
// CONFIG_SCHED_INFO (or FAIR_GROUP_SCHED) it stamps wakeups itself.
var Programs = probe.Programs{
	Required: []string{schedProgFlushAllWaits},
	Optional: map[string]string{
		schedProgHandleFree:   "waits of threads since their last flush when they end",
		schedProgHandleSwitch: "the run-queue latency histogram (--sched-runqueue-histogram)",
	},
	Fallback: map[string][]string{schedProgHandleSwitch: {schedProgFallbackWakeup, schedProgFallbackWakeupNew, schedProgFallbackSwitch}},
}

var (
	flushes   = []string{schedProgFlushAllWaits, schedProgHandleFree}
	schedInfo = []string{schedProgHandleSwitch}
	wakeups   = Programs.Fallback[schedProgHandleSwitch]
)

// errNoSchedInfo: the kernel keeps no per-thread run-queue counts.
var errNoSchedInfo = errors.New("the kernel counts no run-queue waits per thread (task_struct has no sched_info: CONFIG_SCHED_INFO is off)")

// Probe is the scheduler probe.
type Probe struct {
	opts Options

	objs    *probe.Objects
	bpf     schedObjects
	env     probe.Env
	flushes *probe.Flushes // nil where the kernel counts no waits
	free    link.Link      // handle_free, with the flushes
	waits   probe.RowCache[schedSchedCounts]
	latency probe.RowCache[series.Log2Hist]

	// tuneSpec adjusts the collection before loading (tests shrink maps,
	// or drop programs to force the fallback).
	tuneSpec func(*ebpf.CollectionSpec)
	// countsWaits says whether the kernel counts waits per thread (tests
	// pretend it does not).
	countsWaits func() (bool, error)
}

// New returns an unstarted scheduler probe with opts.
func New(opts Options) *Probe { return &Probe{opts: opts, countsWaits: kernelCountsWaits} }

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects { return p.objs }

// kernelCountsWaits reads the kernel's BTF, as CO-RE does when the
// programs load: task_struct has sched_info only with CONFIG_SCHED_INFO.
func kernelCountsWaits() (bool, error) {
	spec, err := btf.LoadKernelSpec()
	if err != nil {
		return false, err
	}
	var task *btf.Struct
	if err := spec.TypeByName("task_struct", &task); err != nil {
		return false, err
	}
	return slices.ContainsFunc(task.Members, func(m btf.Member) bool { return m.Name == "sched_info" }), nil
}

// Start implements probe.Probe. Without the kernel's per-thread counts the
// probe is down, unless the histogram was asked for: then it runs
// degraded, the missing counts said in its status.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	counted, err := p.countsWaits()
	if err != nil {
		return fmt.Errorf("read the kernel's BTF: %w", err)
	}
	if !counted && !p.opts.RunqueueHistogram {
		return fmt.Errorf("%w; --sched-runqueue-histogram times waits itself", errNoSchedInfo)
	}
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
	names := flushes
	if p.opts.RunqueueHistogram {
		names = append(slices.Clone(flushes), schedInfo...)
	}
	objs, err := p.loadOnly(spec, names)
	if err == nil && p.opts.RunqueueHistogram && p.bpf.HandleSwitch == nil {
		// Without CONFIG_SCHED_INFO (or FAIR_GROUP_SCHED) stamp wakeups ourselves.
		env.Log.Info("sched: kernel run-queue stamps unusable, timing wakeups instead", "err", objs.Failed[schedProgHandleSwitch])
		objs.Close()
		objs, err = p.loadOnly(spec, append(slices.Clone(flushes), wakeups...))
	}
	if err != nil {
		return err
	}
	p.objs, p.env = objs, env
	if !counted {
		objs.Failed[schedProgFlushAllWaits] = errNoSchedInfo
		objs.Failed[schedProgHandleFree] = errNoSchedInfo
		return nil
	}
	if p.flushes, err = probe.StartFlushes(ctx, p.bpf.FlushAllWaits, flushEvery, "run-queue waits", env.Log); err != nil {
		p.Close()
		return err
	}
	if prog := p.bpf.HandleFree; prog != nil {
		if p.free, err = link.AttachTracing(link.TracingOptions{Program: prog}); err != nil {
			objs.Failed[schedProgHandleFree] = probe.Explain(ebpf.Tracing, err)
		}
	}
	return nil
}

// loadOnly loads the named programs of spec and no others.
func (p *Probe) loadOnly(spec *ebpf.CollectionSpec, names []string) (*probe.Objects, error) {
	s := spec.Copy()
	for name := range s.Programs {
		if !slices.Contains(names, name) {
			delete(s.Programs, name)
		}
	}
	return probe.Load(s, &p.bpf, probe.LoadOptions{
		Programs:  Programs,
		Manual:    flushes,
		PerCgroup: []string{schedMapWaits, schedMapRunqLatency},
	})
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	if p.flushes != nil {
		p.flushes.Close()
		p.flushes = nil
	}
	if p.free != nil {
		p.free.Close()
		p.free = nil
	}
	return probe.Release(&p.objs)
}

// Describe implements probe.Probe.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Collect implements probe.Probe: one pass over the in-kernel counters and,
// when on, one over the histograms.
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	if p.objs == nil {
		return nil
	}
	var errs []error
	rows := series.RowsTo(ch)
	if p.flushes != nil {
		errs = append(errs, probe.CollectPerCPURows(rows, &p.waits, p.bpf.Waits, p.env.Resolver, addCounts, func(row *series.Row, c *schedSchedCounts) {
			row.Send(waitDesc, prometheus.CounterValue, float64(c.WaitNs)/1e9)
			row.Send(timeslicesDesc, prometheus.CounterValue, float64(c.Timeslices))
		}))
	}
	if p.opts.RunqueueHistogram {
		errs = append(errs, probe.CollectPerCPURows(rows, &p.latency, p.bpf.RunqLatency, p.env.Resolver, (*series.Log2Hist).Add, func(row *series.Row, h *series.Log2Hist) {
			row.SendHistogram(latencyDesc, h)
		}))
	}
	return errors.Join(errs...)
}

func addCounts(dst, src *schedSchedCounts) {
	dst.WaitNs += src.WaitNs
	dst.Timeslices += src.Timeslices
}
