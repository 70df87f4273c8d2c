// Package memory is the memory probe: usage and limit per workload from the
// cgroup memory controller (v2, or v1 on hybrid hosts), an OOM ETA from the
// usage trend, OOM kills counted per victim cgroup with an event per kill,
// page faults per workload, and the top allocating processes.
package memory

import (
	"context"
	"time"
	"unsafe"

	"github.com/cilium/ebpf/link"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
)

// Name is the probe's name in configuration and metrics.
const Name = "memory"

// Programs: OOM kills and the fault flushes make the probe; page
// allocations (off by default), the allocator list and exit-time flushes are
// upgrades.
var Programs = probe.Programs{
	Required: []string{"handle_oom_victim", flushProg},
	Optional: map[string]string{
		pageAllocProg: "page allocations per workload (--memory-page-allocations)",
		listProg:      "top allocating processes",
		"handle_exit": "faults of threads since their last flush when they exit",
	},
}

const (
	defaultInterval = time.Second
	// defaultWindow samples (30 s at the default interval) feed the OOM ETA.
	defaultWindow = 30
	pageAllocProg = "handle_page_alloc"
	flushProg     = "flush_all_faults"
	// faultFlushEvery: a pass over every thread of the node (~0.2 us of BPF
	// a thread), so not every second; a thread's exit flushes it at once.
	faultFlushEvery = 5 * time.Second
)

var (
	usageDesc     = probe.WorkloadDesc("orb8_memory_usage_bytes", "Memory charged to the workload's cgroup and its descendants (memory.current, or memory.usage_in_bytes on cgroup v1).")
	limitDesc     = probe.WorkloadDesc("orb8_memory_limit_bytes", "Memory limit of the workload's cgroup (memory.max, or memory.limit_in_bytes on cgroup v1); absent without a limit.")
	etaDesc       = probe.WorkloadDesc("orb8_memory_oom_eta_seconds", "Predicted seconds until the workload's working set reaches its memory limit at its current growth; absent when not growing steadily.")
	oomDesc       = probe.WorkloadDesc("orb8_oom_kills_total", "Processes of the workload chosen as victims by the OOM killer.")
	faultsDesc    = probe.WorkloadDesc("orb8_memory_page_faults_total", "Page faults (minor and major) the workload's threads took, as the kernel counts them per thread; updated every 5 s and when a thread ends.")
	pageAllocDesc = probe.WorkloadDesc("orb8_memory_pages_allocated_total", "Pages the kernel allocated while running the workload's processes (only with page allocation tracking on).")
)

// Probe is the memory probe.
type Probe struct {
	// Settings, fixed before Start.
	interval  time.Duration // cgroup files are read this often
	window    int           // samples in the OOM ETA's trend
	pageAlloc bool          // attach the hot mm_page_alloc hook

	objs      *probe.Objects
	env       probe.Env
	figures   *refresher     // nil without a memory controller
	stop      func()         // ends the refresher's rounds
	flushes   *link.Iter     // moves threads' new faults to their cgroups
	stopFlush func()         // ends the flushes' rounds
	allocLink link.Link      // mm_page_alloc, when attached
	list      *allocatorList // nil when the iterator did not load
}

// New returns an unstarted memory probe without page allocation tracking.
func New() *Probe { return &Probe{interval: defaultInterval, window: defaultWindow} }

// NewWithPageAllocations returns a memory probe that also counts every page
// allocation per workload and process. That hook runs on every page the
// kernel hands out: see docs/benchmarks.md for its cost.
func NewWithPageAllocations() *Probe {
	p := New()
	p.pageAlloc = true
	return p
}

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects { return p.objs }

// Start implements probe.Probe.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	spec, err := loadMemory()
	if err != nil {
		return err
	}
	if err := probe.SetLoadTime(spec, "loaded_at_ns"); err != nil {
		return err
	}
	objs, err := probe.Load(spec, probe.LoadOptions{
		Programs: Programs,
		Manual:   []string{pageAllocProg, listProg, flushProg},
	})
	if err != nil {
		return err
	}
	p.objs, p.env = objs, env
	if p.flushes, err = link.AttachIter(link.IterOptions{Program: objs.Programs[flushProg]}); err != nil {
		p.Close()
		return probe.Explain(err)
	}
	// The first pass marks where the threads alive now stand.
	p.flushFaults(time.Now())
	p.stopFlush = probe.Every(ctx, faultFlushEvery, p.flushFaults)
	p.pageAlloc = p.pageAlloc || env.Config.MemoryPageAllocations
	if err := p.attachPageAlloc(); err != nil {
		objs.Failed[pageAllocProg] = err
	}
	if prog := objs.Programs[listProg]; prog != nil {
		if it, err := link.AttachIter(link.IterOptions{Program: prog}); err == nil {
			p.list = &allocatorList{iter: it}
		} else {
			objs.Failed[listProg] = probe.Explain(err)
		}
	}
	if err := objs.ReadRing("events", p.handleOOM); err != nil {
		p.Close()
		return err
	}
	files, err := findHierarchy(env.CgroupRoot)
	if err != nil {
		// OOM kills and page faults still work; usage and limit do not.
		env.Log.Warn("memory usage and limits unavailable", "err", err)
		return nil
	}
	p.figures = newRefresher(files, env.CgroupRoot, env.Resolver, p.window)
	p.figures.refresh(time.Now())
	p.stop = probe.Every(ctx, p.interval, p.figures.refresh)
	return nil
}

// flushFaults moves what every thread faulted since the last pass to its
// cgroup's counter.
func (p *Probe) flushFaults(time.Time) {
	if err := probe.RunIter(p.flushes); err != nil {
		p.env.Log.Warn("flush page faults", "err", err)
	}
}

// attachPageAlloc attaches the page allocation hook when it was asked for.
func (p *Probe) attachPageAlloc() error {
	prog := p.objs.Programs[pageAllocProg]
	if !p.pageAlloc || prog == nil {
		return nil
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		return probe.Explain(err)
	}
	p.allocLink = l
	return nil
}

func (p *Probe) handleOOM(raw []byte) {
	if len(raw) < int(unsafe.Sizeof(memoryOomEvent{})) || !p.env.Events.Wants(events.KindOOM) {
		return
	}
	e := (*memoryOomEvent)(unsafe.Pointer(&raw[0]))
	p.env.Events.Publish(events.Event{
		Time:     probe.BootTime(e.BootNs),
		Kind:     events.KindOOM,
		Workload: p.env.Resolver.Lookup(e.CgroupId),
		Process:  events.Process{PID: e.Pid, UID: e.Uid, Comm: probe.CString(e.Comm[:])},
		OOM: &events.OOM{
			TotalVMBytes: e.TotalVm, AnonRSSBytes: e.AnonRss, FileRSSBytes: e.FileRss, ShmemRSSBytes: e.ShmemRss,
		},
	})
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	if p.stopFlush != nil {
		p.stopFlush()
		p.stopFlush = nil
	}
	if p.flushes != nil {
		p.flushes.Close()
		p.flushes = nil
	}
	if p.stop != nil {
		p.stop()
		p.stop = nil
		p.figures.close() // its files, now that no refresh runs
	}
	if p.allocLink != nil {
		p.allocLink.Close()
		p.allocLink = nil
	}
	if p.list != nil {
		p.list.iter.Close()
		p.list = nil
	}
	return probe.Release(&p.objs)
}

// Forget implements probe.Forgetter.
func (p *Probe) Forget(ids []uint64) {
	if p.objs != nil {
		probe.DeleteKeys(p.objs.Maps["stats"], ids)
	}
}

// Describe implements prometheus.Collector.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{usageDesc, limitDesc, etaDesc, oomDesc, faultsDesc, pageAllocDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: the refresher's table and one
// pass over the in-kernel counters.
func (p *Probe) Collect(ch chan<- prometheus.Metric) {
	if p.objs == nil {
		return
	}
	if p.figures != nil {
		for _, f := range p.figures.snapshot() {
			if f.w.Hidden { // filtered out by the agent's namespace/selector filters
				continue
			}
			ch <- probe.WorkloadMetric(usageDesc, prometheus.GaugeValue, float64(f.usage), f.w)
			if f.limited {
				ch <- probe.WorkloadMetric(limitDesc, prometheus.GaugeValue, float64(f.limit), f.w)
			}
			if f.hasETA {
				ch <- probe.WorkloadMetric(etaDesc, prometheus.GaugeValue, f.eta, f.w)
			}
		}
	}
	_ = probe.CollectPerCPU(p.objs.Maps["stats"], p.env.Resolver, addStats, func(w cgroup.Workload, s *memoryMemStats) {
		ch <- probe.WorkloadMetric(oomDesc, prometheus.CounterValue, float64(s.OomKills), w)
		ch <- probe.WorkloadMetric(faultsDesc, prometheus.CounterValue, float64(s.PageFaults), w)
		if p.allocLink != nil {
			ch <- probe.WorkloadMetric(pageAllocDesc, prometheus.CounterValue, float64(s.PagesAllocated), w)
		}
	})
}

func addStats(dst, src *memoryMemStats) {
	dst.OomKills += src.OomKills
	dst.PageFaults += src.PageFaults
	dst.PagesAllocated += src.PagesAllocated
}
