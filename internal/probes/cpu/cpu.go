// Package cpu is the CPU probe: CPU time, CPU pressure and CPU throttling
// per workload, from the counters the kernel keeps per cgroup (cgroup2
// cpu.stat and cpu.pressure, or the v1 cpuacct and cpu controllers on
// hybrid hosts): the scheduler already sums every task's runtime into its
// cgroups. Where the workloads are cgroup2's, one walk of the cgroup tree
// by a BPF iterator reads them all (cpu.bpf.c); else, or where the kernel
// refuses it, each cgroup's files are read.
package cpu

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/tick"
)

// Name is the probe's name in configuration and metrics.
const Name = "cpu"

const (
	// defaultInterval: counters are read this often. Rates over a scrape
	// interval (15 s and up) do not need them fresher, and each read of
	// cpu.stat flushes the cgroup's per-CPU statistics.
	defaultInterval = 5 * time.Second
	// rescanEvery is how many refreshes pass between rescans (new and
	// removed cgroups, workload names).
	rescanEvery = 2
)

// Programs: the one iterator is optional; without it each cgroup's files are read.
var Programs = probe.Programs{Optional: map[string]string{
	cpuProgCgroupCpu: "one walk of the cgroup tree per refresh (each cgroup's files are read instead)",
}}

// metrics are the series the probe exports: what Describe sends.
var metrics series.Set

var (
	usageDesc     = metrics.Workload("orb8_cpu_usage_seconds_total", "CPU time the workload's cgroup and its descendants ran, in seconds (cgroup2 cpu.stat usage_usec, or cpuacct.usage on cgroup v1); read every 5 s.")
	waitingDesc   = metrics.Workload("orb8_cpu_pressure_waiting_seconds_total", "Time at least one of the workload's runnable threads waited for a CPU, in seconds (cgroup2 cpu.pressure some total, PSI); read every 5 s; absent where the kernel keeps no pressure stall information.")
	stalledDesc   = metrics.Workload("orb8_cpu_pressure_stalled_seconds_total", "Time all of the workload's non-idle threads waited for a CPU at once, in seconds (cgroup2 cpu.pressure full total, PSI); read every 5 s; absent where the kernel keeps no pressure stall information.")
	throttledDesc = metrics.Workload("orb8_cpu_throttled_seconds_total", "Time the workload's cgroup spent throttled by its CPU quota, in seconds (cpu.stat throttled_usec, or throttled_time of the v1 cpu cgroup); absent without a cpu controller for it.")
)

// Probe is the CPU probe.
type Probe struct {
	interval time.Duration // fixed before Start

	objs    *probe.Objects // nil without the walk's BPF
	bpf     cpuObjects
	loadErr error // why the walk's BPF did not load, where the workloads are cgroup2's

	figures *refresher
	stop    func()
}

// New returns an unstarted CPU probe.
func New() *Probe { return &Probe{interval: defaultInterval} }

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects { return p.objs }

// Start implements probe.Probe. It fails when the host keeps CPU time in
// no cgroup file the probe knows.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	src, err := findSources(env.CgroupRoot)
	if err != nil {
		return err
	}
	p.figures = newRefresher(src, env.CgroupRoot, env.Resolver)
	if src.walkable(env.CgroupRoot) {
		p.figures.walker, p.loadErr = p.load(env.CgroupRoot)
	}
	p.figures.refresh(time.Now())
	p.stop = tick.Every(ctx, p.interval, p.figures.refresh)
	return nil
}

// load loads the walk's program, to walk the tree under root; a nil
// walker without an error is a program the kernel refused (in
// Objects().Failed).
func (p *Probe) load(root string) (*probe.CgroupWalk[cpuCgroupFigures], error) {
	spec, err := loadCpu()
	if err != nil {
		return nil, err
	}
	objs, err := probe.Load(spec, &p.bpf, probe.LoadOptions{Programs: Programs, Manual: []string{cpuProgCgroupCpu}})
	if err != nil {
		return nil, err
	}
	p.objs = objs
	if p.bpf.CgroupCpu == nil {
		return nil, nil
	}
	w, err := probe.NewCgroupWalk[cpuCgroupFigures](p.bpf.CgroupCpu, p.bpf.Figures, p.bpf.Walked, root)
	if err != nil {
		probe.Release(&p.objs)
	}
	return w, err
}

// errNoPressure: the kernel keeps no pressure stall information.
var errNoPressure = errors.New("no CPU pressure per workload: the kernel keeps no pressure stall information (PSI: CONFIG_PSI, and psi=1 on the kernel command line where CONFIG_PSI_DEFAULT_DISABLED)")

// Degraded implements probe.Degrader: CPU pressure, where PSI is off; the
// walk, where its BPF did not load, or its last run failed or left cgroups
// out.
func (p *Probe) Degraded() map[string]error {
	out := map[string]error{}
	if p.figures != nil && !p.figures.src.pressure {
		out[pressureFile] = errNoPressure
	}
	if p.loadErr != nil {
		out[cpuProgCgroupCpu] = fmt.Errorf("each cgroup's files are read instead: %w", p.loadErr)
	} else if p.figures != nil {
		if err := p.figures.walker.Err(); err != nil {
			out[cpuProgCgroupCpu] = err
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	if p.stop != nil {
		p.stop()
		p.stop = nil
		p.figures.close() // its files, now that no refresh runs
	}
	return probe.Release(&p.objs)
}

// Describe implements probe.Probe.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Collect implements probe.Probe: the refresher's table, of visible
// workloads only.
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	if p.figures == nil {
		return nil
	}
	rows := series.RowsTo(ch)
	for _, f := range p.figures.snapshot() {
		row := rows.RowOf(f.labels)
		row.Send(usageDesc, prometheus.CounterValue, f.usage)
		if f.hasThrottle {
			row.Send(throttledDesc, prometheus.CounterValue, f.throttled)
		}
		if f.hasPressure {
			row.Send(waitingDesc, prometheus.CounterValue, float64(f.pressure.Some)*1e-6)
			if f.pressure.HasFull {
				row.Send(stalledDesc, prometheus.CounterValue, float64(f.pressure.Full)*1e-6)
			}
		}
		row.Done()
	}
	return nil
}
