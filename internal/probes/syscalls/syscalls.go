// Package syscalls is the syscall probe: for a configured, bounded set of
// syscalls, calls, errors by errno and a latency histogram per workload,
// aggregated in the kernel; and, on demand, a stream of the syscalls of
// chosen workloads, filtered in the kernel (Stream).
package syscalls

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probes/syscalls/sysnames"
)

// Name is the probe's name in configuration and metrics.
const Name = "syscalls"

// Programs are both required.
var Programs = probe.Programs{Required: []string{"sys_enter", "sys_exit"}}

var (
	callsDesc   = probe.WorkloadDesc("orb8_syscalls_total", "Returns from the syscall in the workload (tracked syscalls only).", "syscall")
	errorsDesc  = probe.WorkloadDesc("orb8_syscall_errors_total", "Returns from the syscall with an error in the workload, by errno.", "syscall", "errno")
	latencyDesc = probe.WorkloadDesc("orb8_syscall_latency_seconds", "Time from entering the syscall to returning from it in the workload.", "syscall")
)

// callStats is struct call_stats of syscalls.bpf.c.
type callStats struct {
	Calls   uint64
	Errors  uint64
	Latency probe.Log2Hist
}

func addStats(dst, src *callStats) {
	dst.Calls += src.Calls
	dst.Errors += src.Errors
	dst.Latency.Add(&src.Latency)
}

func addCount(dst, src *uint64) { *dst += *src }

// Probe is the syscall probe.
type Probe struct {
	objs  *probe.Objects
	env   probe.Env
	comms probe.Comms // of the ring reader's goroutine

	mu      sync.Mutex
	streams map[uint64][]*stream // cgroup id -> open streams
}

// New returns an unstarted syscall probe; it tracks env.Config.Syscalls.
func New() *Probe { return &Probe{streams: map[uint64][]*stream{}} }

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects { return p.objs }

// Start implements probe.Probe.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	nrs, err := sysnames.Numbers(env.Config.Syscalls, true)
	if err != nil {
		return err
	}
	spec, err := loadSyscalls()
	if err != nil {
		return err
	}
	objs, err := probe.Load(spec, probe.LoadOptions{Programs: Programs})
	if err != nil {
		return err
	}
	p.objs, p.env = objs, env
	for _, nr := range nrs {
		if err := objs.Maps["tracked"].Put(nr, uint32(1)); err != nil {
			p.Close()
			return err
		}
	}
	if err := objs.ReadRing("events", p.handle); err != nil {
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

// Forget implements probe.Forgetter.
func (p *Probe) Forget(ids []uint64) {
	if p.objs == nil {
		return
	}
	probe.DeleteKeysOf(p.objs.Maps["stats"], ids, func(k syscallsCallKey) uint64 { return k.CgroupId })
	probe.DeleteKeysOf(p.objs.Maps["errors"], ids, func(k syscallsErrorKey) uint64 { return k.CgroupId })
}

// Describe implements prometheus.Collector.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{callsDesc, errorsDesc, latencyDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one pass over each in-kernel table.
func (p *Probe) Collect(ch chan<- prometheus.Metric) {
	if p.objs == nil {
		return
	}
	r := p.env.Resolver
	_ = probe.CollectPerCPUKeyed(p.objs.Maps["stats"], r, splitCallKey, addStats, func(w cgroup.Workload, k syscallsCallKey, s *callStats) {
		name := sysnames.Name(k.Nr)
		ch <- probe.WorkloadMetric(callsDesc, prometheus.CounterValue, float64(s.Calls), w, name)
		ch <- probe.WorkloadHistogram(latencyDesc, &s.Latency, w, name)
	})
	_ = probe.CollectPerCPUKeyed(p.objs.Maps["errors"], r, splitErrorKey, addCount, func(w cgroup.Workload, k syscallsErrorKey, n *uint64) {
		ch <- probe.WorkloadMetric(errorsDesc, prometheus.CounterValue, float64(*n), w, sysnames.Name(k.Nr), errnoName(k.Err))
	})
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
