package cuda

import (
	"context"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/tick"
)

// EventKinds are the kinds of event the probe publishes: sampled kernel
// launches, sent by the kernel only while someone streams them.
var EventKinds = []string{events.KindCUDA}

// kernelRefreshEvery folds the in-kernel launch table into the sums and
// frees the rows of exited processes between scrapes.
const kernelRefreshEvery = 5 * time.Second

// runtimeCUDA is the runtime label value of this probe's launches.
const runtimeCUDA = "cuda"

var (
	kernelLaunchesDesc = metrics.Workload("orb8_accelerator_kernel_launches_by_name_total",
		"Kernel launches of the workload by kernel name (demangled; [unknown] when the pointer has no symbol). Counted in the sampling windows only: for a duty-cycled process (orb8_accelerator_sampling_ratio < 1) a sample of its launches.",
		"runtime", "kernel")
	kernelDroppedDesc = metrics.Plain("orb8_accelerator_kernel_table_dropped_total",
		"What the kernel-name tables could not hold, by table: launches (counted, not by name), function_names (driver kernel names not kept), events (launch events over the per-CPU rate), rows (launches not summed by name).",
		"runtime", "table")
)

// levelAPI names the launch levels (enum level) for events.
var levelAPI = [...]string{"runtime", "driver"}

// startKernels reads launch events and turns them on while someone
// streams cuda events; refresh, run every kernelRefreshEvery until stop,
// keeps the launch table to live processes.
func (p *Probe) startKernels(ctx context.Context) (stop func(), err error) {
	p.kernels = newKernelNames(p.bpf.KernelLaunches, p.bpf.FunctionNames)
	if err := p.objs.ReadRing(p.bpf.Launches, p.handleLaunch); err != nil {
		return nil, err
	}
	probe.EmitWhile(p.objs, p.env.Events, map[cudaCudaEventKind]string{cudaCudaEventKindEVENT_LAUNCH: events.KindCUDA})
	stopRefresh := tick.Every(ctx, kernelRefreshEvery, func(time.Time) {
		if err := p.kernels.refresh(); err != nil {
			p.env.Log.Debug("read CUDA kernel launches", "err", err)
		}
	})
	return func() { stopRefresh(); p.kernels.stop() }, nil
}

// handleLaunch names a process's first launch of a kernel soon (see
// nameFirst) and publishes the launches sampled for watchers.
func (p *Probe) handleLaunch(raw []byte) {
	if len(raw) < int(unsafe.Sizeof(cudaLaunchEvent{})) {
		return
	}
	e := (*cudaLaunchEvent)(unsafe.Pointer(&raw[0]))
	key := cudaKernelKey{CgroupId: e.CgroupId, Function: e.Function, Tgid: e.Pid, Level: e.Level}
	if e.Flags&uint32(cudaLaunchFlagLAUNCH_FIRST) != 0 {
		p.kernels.nameFirst(key)
	}
	if e.Flags&uint32(cudaLaunchFlagLAUNCH_WATCHED) == 0 || !p.env.Events.Wants(events.KindCUDA) {
		return
	}
	w, ok := p.env.Resolver.Visible(e.CgroupId)
	if !ok {
		return
	}
	name := p.kernels.name(key)
	p.env.Events.Publish(events.Event{
		Time:     probe.BootTime(e.BootNs),
		Kind:     events.KindCUDA,
		Workload: w,
		Process:  events.Process{PID: e.Pid, Comm: p.comms.Name(*(*[16]byte)(unsafe.Pointer(&e.Comm)))},
		CUDA: &events.CUDALaunch{
			Kernel: name, Runtime: runtimeCUDA, API: levelAPI[min(int(e.Level), len(levelAPI)-1)],
			Grid: e.Grid, Block: e.Block, SharedBytes: e.SharedBytes, Stream: e.Stream, TID: e.Tid,
		},
	})
}

// collectKernels exports the launches by kernel name and what did not fit.
func (p *Probe) collectKernels(ch chan<- prometheus.Metric) error {
	err := p.kernels.refresh()
	rows, dropped := p.kernels.counts(p.env.Resolver.Visible)
	for _, r := range rows {
		ch <- series.NewRow(r.workload).Metric(kernelLaunchesDesc, prometheus.CounterValue, float64(r.launches), runtimeCUDA, r.kernel)
	}
	for slot := range cudaKernelDropKERNEL_DROPS {
		var perCPU []uint64
		if p.bpf.KernelDrops.Lookup(uint32(slot), &perCPU) != nil {
			continue
		}
		var n uint64
		for _, v := range perCPU {
			n += v
		}
		ch <- prometheus.MustNewConstMetric(kernelDroppedDesc, prometheus.CounterValue, float64(n), runtimeCUDA, kernelDrops[slot])
	}
	ch <- prometheus.MustNewConstMetric(kernelDroppedDesc, prometheus.CounterValue, float64(dropped), runtimeCUDA, kernelDrops[len(kernelDrops)-1])
	return err
}
