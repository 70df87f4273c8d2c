// Package fds is the file descriptor probe: open fds per workload counted in
// the kernel by a task iterator, the RLIMIT_NOFILE of the process nearest to
// its limit, and a flag for steady growth (a suspected leak).
package fds

import (
	"context"
	"fmt"
	"time"

	"github.com/cilium/ebpf/link"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/trend"
)

// Name is the probe's name in configuration and metrics.
const Name = "fds"

const (
	defaultInterval = 5 * time.Second
	// defaultWindow scans (3 min at the default interval) feed the leak flag.
	defaultWindow = 36
	iterProg      = "count_fds"
)

// Programs: the one iterator is required.
var Programs = probe.Programs{Required: []string{iterProg}}

var (
	openDesc  = probe.WorkloadDesc("orb8_open_fds", "Open file descriptors of the workload's processes.")
	limitDesc = probe.WorkloadDesc("orb8_fd_limit", "Soft RLIMIT_NOFILE of the workload's process that is nearest to its limit.")
	leakDesc  = probe.WorkloadDesc("orb8_fd_leak_suspected", "1 when the workload's open file descriptors have grown steadily over the last scans, else 0.")
)

// Probe is the file descriptor probe.
type Probe struct {
	// Settings, fixed before Start.
	interval time.Duration // how often the iterator runs
	window   int           // scans the leak flag looks at

	objs *probe.Objects
	scan *scanner
	stop func() // ends the periodic scan
}

// New returns an unstarted fd probe.
func New() *Probe { return &Probe{interval: defaultInterval, window: defaultWindow} }

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects { return p.objs }

// Start implements probe.Probe: it scans once, then every interval.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	spec, err := loadFds()
	if err != nil {
		return err
	}
	objs, err := probe.Load(spec, probe.LoadOptions{Programs: Programs, Manual: []string{iterProg}})
	if err != nil {
		return err
	}
	p.objs = objs
	it, err := link.AttachIter(link.IterOptions{Program: objs.Programs[iterProg]})
	if err != nil {
		p.Close()
		return fmt.Errorf("attach fd iterator: %w", probe.Explain(err))
	}
	p.scan = &scanner{iter: it, resolver: env.Resolver, window: p.window, rule: defaultLeak, trends: map[uint64]*trend.Window{}}
	if err := p.scan.scan(time.Now()); err != nil {
		p.Close()
		return err
	}
	p.stop = probe.Every(ctx, p.interval, func(now time.Time) {
		if err := p.scan.scan(now); err != nil {
			env.Log.Warn("fd scan failed", "err", err)
		}
	})
	return nil
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	if p.stop != nil {
		p.stop()
		p.stop = nil
	}
	if p.scan != nil {
		p.scan.iter.Close()
		p.scan = nil
	}
	return probe.Release(&p.objs)
}

// Describe implements prometheus.Collector.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{openDesc, limitDesc, leakDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the table of the last scan.
func (p *Probe) Collect(ch chan<- prometheus.Metric) {
	if p.scan == nil {
		return
	}
	for _, f := range p.scan.snapshot() {
		if f.w.Hidden { // filtered out by the agent's namespace/selector filters
			continue
		}
		leak := 0.0
		if f.leak {
			leak = 1
		}
		ch <- probe.WorkloadMetric(openDesc, prometheus.GaugeValue, float64(f.open), f.w)
		ch <- probe.WorkloadMetric(limitDesc, prometheus.GaugeValue, float64(f.limit), f.w)
		ch <- probe.WorkloadMetric(leakDesc, prometheus.GaugeValue, leak, f.w)
	}
}
