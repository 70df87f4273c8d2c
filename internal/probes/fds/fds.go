// Package fds is the file descriptor probe: open fds per workload counted in
// the kernel by a task iterator, the RLIMIT_NOFILE of the process nearest to
// its limit, and a flag for steady growth (a suspected leak).
package fds

import (
	"context"
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/tick"
	"github.com/orb8/orb8/internal/trend"
)

// Name is the probe's name in configuration and metrics.
const Name = "fds"

const (
	defaultInterval = 5 * time.Second
	// defaultWindow scans (3 min at the default interval) feed the leak flag.
	defaultWindow = 36
)

// metrics are the series the probe exports: what Describe sends.
var metrics series.Set

// Programs: the one iterator is required.
var Programs = probe.Programs{Required: []string{fdsProgCountFds}}

var (
	openDesc  = metrics.Workload("orb8_open_fds", "Open file descriptors of the workload's processes.")
	limitDesc = metrics.Workload("orb8_fd_limit", "Soft RLIMIT_NOFILE of the workload's process that is nearest to its limit.").Min()
	leakDesc  = metrics.Workload("orb8_fd_leak_suspected", "1 when the workload's open file descriptors have grown steadily over the last scans, else 0.").Max()
)

// Probe is the file descriptor probe.
type Probe struct {
	// Settings, fixed before Start.
	interval time.Duration // how often the iterator runs
	window   int           // scans the leak flag looks at

	objs *probe.Objects
	bpf  fdsObjects
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
	objs, err := probe.Load(spec, &p.bpf, probe.LoadOptions{Programs: Programs, Manual: []string{fdsProgCountFds}})
	if err != nil {
		return err
	}
	p.objs = objs
	it, err := link.AttachIter(link.IterOptions{Program: p.bpf.CountFds})
	if err != nil {
		p.Close()
		return fmt.Errorf("attach fd iterator: %w", probe.Explain(ebpf.Tracing, err))
	}
	p.scan = &scanner{iter: it, resolver: env.Resolver, window: p.window, rule: defaultLeak, trends: map[uint64]*trend.Window{}}
	if err := p.scan.scan(time.Now()); err != nil {
		p.Close()
		return err
	}
	p.stop = tick.Every(ctx, p.interval, func(now time.Time) {
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

// Describe implements probe.Probe.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Collect implements probe.Probe: the table of the last scan.
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	if p.scan == nil {
		return nil
	}
	rows := series.RowsTo(ch)
	for _, f := range p.scan.snapshot() {
		row := rows.Row(f.w)
		leak := 0.0
		if f.leak {
			leak = 1
		}
		row.Send(openDesc, prometheus.GaugeValue, float64(f.open))
		row.Send(limitDesc, prometheus.GaugeValue, float64(f.limit))
		row.Send(leakDesc, prometheus.GaugeValue, leak)
		row.Done()
	}
	return nil
}
