// Package syscalls is the syscall probe: for a configured, bounded set of
// syscalls, calls, errors by errno and a latency histogram per workload,
// aggregated in the kernel; and, on demand, a stream of the syscalls of
// chosen workloads, filtered in the kernel (Stream).
package syscalls

import (
	"context"
	"errors"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/sysnames"
)

// Name is the probe's name in configuration and metrics.
const Name = "syscalls"

// EventKinds are the kinds of event the probe publishes (while streamed).
var EventKinds = []string{events.KindSyscall}

// metrics are the series the probe exports: what Describe sends.
var metrics series.Set

// Programs are both required.
var Programs = probe.Programs{Required: []string{syscallsProgSysEnter, syscallsProgSysExit}}

var (
	callsDesc   = metrics.Workload("orb8_syscalls_total", "Returns from the syscall in the workload (tracked syscalls only).", "syscall")
	errorsDesc  = metrics.Workload("orb8_syscall_errors_total", "Returns from the syscall with an error in the workload, by errno.", "syscall", "errno")
	latencyDesc = metrics.WorkloadHistogram("orb8_syscall_latency_seconds", "Time from entering the syscall to returning from it in the workload.", series.Log2Bounds(), "syscall")
)

// callStats is struct call_stats of syscalls.bpf.c.
type callStats struct {
	Calls   uint64
	Errors  uint64
	Latency series.Log2Hist
}

func addStats(dst, src *callStats) {
	dst.Calls += src.Calls
	dst.Errors += src.Errors
	dst.Latency.Add(&src.Latency)
}

func addCount(dst, src *uint64) { *dst += *src }

// Probe is the syscall probe.
type Probe struct {
	opts  Options
	objs  *probe.Objects
	bpf   syscallsObjects
	env   probe.Env
	comms probe.Comms // of the ring reader's goroutine

	mu      sync.Mutex
	streams map[uint64][]*stream // cgroup id -> open streams
}

// New returns an unstarted syscall probe with opts.
func New(opts Options) *Probe { return &Probe{opts: opts, streams: map[uint64][]*stream{}} }

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects { return p.objs }

// Start implements probe.Probe.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	nrs, err := tracked(p.opts.Syscalls)
	if err != nil {
		return err
	}
	spec, err := loadSyscalls()
	if err != nil {
		return err
	}
	objs, err := probe.Load(spec, &p.bpf, probe.LoadOptions{
		Programs:  Programs,
		PerCgroup: []string{syscallsMapStats, syscallsMapErrors}, // keys: cgroup id first
	})
	if err != nil {
		return err
	}
	p.objs, p.env = objs, env
	for _, nr := range nrs {
		if err := p.bpf.Tracked.Put(nr, uint32(1)); err != nil {
			p.Close()
			return err
		}
	}
	if err := objs.ReadRing(p.bpf.Events, p.handle); err != nil {
		p.Close()
		return err
	}
	return nil
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	p.mu.Lock() // no Stream or stop in between
	defer p.mu.Unlock()
	return probe.Release(&p.objs)
}

// Describe implements probe.Probe.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Collect implements probe.Probe: one pass over each in-kernel table.
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	if p.objs == nil {
		return nil
	}
	r := p.env.Resolver
	calls := probe.CollectPerCPUKeyed(p.bpf.Stats, r, splitCallKey, addStats, func(w cgroup.Workload, k syscallsCallKey, s *callStats) {
		name := sysnames.Name(k.Nr)
		ch <- series.Metric(callsDesc, prometheus.CounterValue, float64(s.Calls), w, name)
		ch <- series.Histogram(latencyDesc, &s.Latency, w, name)
	})
	errs := probe.CollectPerCPUKeyed(p.bpf.Errors, r, splitErrorKey, addCount, func(w cgroup.Workload, k syscallsErrorKey, n *uint64) {
		ch <- series.Metric(errorsDesc, prometheus.CounterValue, float64(*n), w, sysnames.Name(k.Nr), errnoName(k.Err))
	})
	return errors.Join(calls, errs)
}

func splitCallKey(k syscallsCallKey) (uint64, syscallsCallKey) {
	id := k.CgroupId
	k.CgroupId = 0
	return id, k
}

func splitErrorKey(k syscallsErrorKey) (uint64, syscallsErrorKey) {
	id := k.CgroupId
	k.CgroupId = 0
	return id, k
}
