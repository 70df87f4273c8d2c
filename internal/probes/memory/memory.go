// Package memory is the memory probe: usage and limit per workload from the
// cgroup memory controller (v2, or v1 on hybrid hosts), an OOM ETA from the
// usage trend, OOM kills counted per victim cgroup with an event per kill,
// page faults per workload, and the top allocating processes.
package memory

import (
	"context"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/tick"
)

// Name is the probe's name in configuration and metrics.
const Name = "memory"

// EventKinds are the kinds of event the probe publishes.
var EventKinds = []string{events.KindOOM}

// Programs: OOM kills and the fault flushes make the probe; page
// allocations (off by default), the allocator list and exit-time flushes are
// upgrades.
var Programs = probe.Programs{
	Required: []string{memoryProgHandleOomVictim, memoryProgFlushAllFaults},
	Optional: map[string]string{
		memoryProgHandlePageAlloc: "page allocations per workload (--memory-page-allocations)",
		memoryProgListAllocators:  "top allocating processes",
		memoryProgHandleExit:      "faults of threads since their last flush when they exit",
		memoryProgWalkMemory:      "usage and limits in one walk of the cgroup tree (else each cgroup's files are read)",
	},
}

const (
	defaultInterval = time.Second
	// defaultWindow samples (30 s at the default interval) feed the OOM ETA.
	defaultWindow = 30
	// faultFlushEvery: a pass over every thread of the node (~0.2 us of BPF
	// a thread), so not every second; a thread's exit flushes it at once.
	faultFlushEvery = 5 * time.Second
)

// metrics are the series the probe exports: what Describe sends.
var metrics series.Set

var (
	usageDesc     = metrics.Workload("orb8_memory_usage_bytes", "Memory charged to the workload's cgroup and its descendants (memory.current, or memory.usage_in_bytes on cgroup v1).")
	limitDesc     = metrics.Workload("orb8_memory_limit_bytes", "Memory limit of the workload's cgroup (memory.max, or memory.limit_in_bytes on cgroup v1); absent without a limit.")
	etaDesc       = metrics.Workload("orb8_memory_oom_eta_seconds", "Predicted seconds until the workload's working set reaches its memory limit at its current growth; absent when not growing steadily.").Min()
	oomDesc       = metrics.Workload("orb8_oom_kills_total", "Processes of the workload chosen as victims by the OOM killer.")
	faultsDesc    = metrics.Workload("orb8_memory_page_faults_total", "Page faults (minor and major) the workload's threads took, as the kernel counts them per thread; updated every 5 s and when a thread ends.")
	pageAllocDesc = metrics.Workload("orb8_memory_pages_allocated_total", "Pages the kernel allocated while running the workload's processes (only with page allocation tracking on).")
)

// Probe is the memory probe.
type Probe struct {
	// Settings, fixed before Start.
	opts     Options
	interval time.Duration // cgroup files are read this often
	window   int           // samples in the OOM ETA's trend

	objs      *probe.Objects
	bpf       memoryObjects
	env       probe.Env
	figures   *refresher     // nil without a memory controller
	stop      func()         // ends the refresher's rounds
	flushes   *probe.Flushes // moves threads' new faults to their cgroups
	allocLink link.Link      // mm_page_alloc, when attached
	list      *allocatorList // nil when the iterator did not load
	rows      probe.RowCache[memoryMemStats]
}

// New returns an unstarted memory probe with opts.
func New(opts Options) *Probe {
	return &Probe{opts: opts, interval: defaultInterval, window: defaultWindow}
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
	if err := probe.SetLoadTime(spec, memoryVarLoadedAtNs); err != nil {
		return err
	}
	objs, err := probe.Load(spec, &p.bpf, probe.LoadOptions{
		Programs:  Programs,
		Manual:    []string{memoryProgHandlePageAlloc, memoryProgListAllocators, memoryProgFlushAllFaults, memoryProgWalkMemory},
		PerCgroup: []string{memoryMapStats},
	})
	if err != nil {
		return err
	}
	p.objs, p.env = objs, env
	if p.flushes, err = probe.StartFlushes(ctx, p.bpf.FlushAllFaults, faultFlushEvery, "page faults", env.Log); err != nil {
		p.Close()
		return err
	}
	if err := p.attachPageAlloc(); err != nil {
		objs.Failed[memoryProgHandlePageAlloc] = err
	}
	if prog := p.bpf.ListAllocators; prog != nil {
		if it, err := link.AttachIter(link.IterOptions{Program: prog}); err == nil {
			p.list = &allocatorList{iter: it}
		} else {
			objs.Failed[memoryProgListAllocators] = probe.Explain(ebpf.Tracing, err)
		}
	}
	if err := objs.ReadRing(p.bpf.Events, p.handleOOM); err != nil {
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
	if prog := p.bpf.WalkMemory; prog != nil {
		p.figures.walk, err = probe.NewCgroupWalk[memoryCgroupMemory](prog, p.bpf.Figures, p.bpf.Walked, files.root)
		if err != nil {
			objs.Failed[memoryProgWalkMemory] = err
		}
	}
	p.figures.refresh(time.Now())
	p.stop = tick.Every(ctx, p.interval, p.figures.refresh)
	return nil
}

// attachPageAlloc attaches the page allocation hook when it was asked for.
func (p *Probe) attachPageAlloc() error {
	prog := p.bpf.HandlePageAlloc
	if !p.opts.PageAllocations || prog == nil {
		return nil
	}
	l, err := link.AttachTracing(link.TracingOptions{Program: prog})
	if err != nil {
		return probe.Explain(ebpf.Tracing, err)
	}
	p.allocLink = l
	return nil
}

func (p *Probe) handleOOM(raw []byte) {
	if len(raw) < int(unsafe.Sizeof(memoryOomEvent{})) || !p.env.Events.Wants(events.KindOOM) {
		return
	}
	e := (*memoryOomEvent)(unsafe.Pointer(&raw[0]))
	w, ok := p.env.Resolver.Visible(e.CgroupId)
	if !ok {
		return
	}
	p.env.Events.Publish(events.Event{
		Time:     probe.BootTime(e.BootNs),
		Kind:     events.KindOOM,
		Workload: w,
		Process:  events.Process{PID: e.Pid, UID: e.Uid, Comm: probe.CString(e.Comm[:])},
		OOM: &events.OOM{
			TotalVMBytes: e.TotalVm, AnonRSSBytes: e.AnonRss, FileRSSBytes: e.FileRss, ShmemRSSBytes: e.ShmemRss,
		},
	})
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
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

// Degraded implements probe.Degrader: the walk, where its last run failed
// or found more cgroups than it has room for (a program the kernel refused
// is in Objects().Failed).
func (p *Probe) Degraded() map[string]error {
	if p.figures == nil {
		return nil
	}
	if err := p.figures.walk.Err(); err != nil {
		return map[string]error{memoryProgWalkMemory: err}
	}
	return nil
}

// Describe implements probe.Probe.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Collect implements probe.Probe: the refresher's table and one
// pass over the in-kernel counters.
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	if p.objs == nil {
		return nil
	}
	rows := series.RowsTo(ch)
	if p.figures != nil {
		for _, f := range p.figures.snapshot() {
			row := rows.RowOf(f.labels)
			row.Send(usageDesc, prometheus.GaugeValue, float64(f.usage))
			if f.limited {
				row.Send(limitDesc, prometheus.GaugeValue, float64(f.limit))
			}
			if f.hasETA {
				row.Send(etaDesc, prometheus.GaugeValue, f.eta)
			}
			row.Done()
		}
	}
	return probe.CollectPerCPURows(rows, &p.rows, p.bpf.Stats, p.env.Resolver, addStats, func(row *series.Row, s *memoryMemStats) {
		row.Send(oomDesc, prometheus.CounterValue, float64(s.OomKills))
		row.Send(faultsDesc, prometheus.CounterValue, float64(s.PageFaults))
		if p.allocLink != nil {
			row.Send(pageAllocDesc, prometheus.CounterValue, float64(s.PagesAllocated))
		}
	})
}

func addStats(dst, src *memoryMemStats) {
	dst.OomKills += src.OomKills
	dst.PageFaults += src.PageFaults
	dst.PagesAllocated += src.PagesAllocated
}
