// Package cuda is the accelerator runtime probe (named cuda): uprobes on the
// CUDA runtime (libcudart) and driver (libcuda), AMD's HIP runtime
// (libamdhip64) and the AWS Neuron runtime (libnrt) of every process, in any
// container, aggregated per workload and runtime in the kernel: kernel
// launches, device memory allocated, freed and outstanding, memcpy bytes by
// direction, cuBLAS GEMM calls and FLOPs, and suspected leaks.
package cuda

import (
	"context"
	"errors"
	"sync"
	"time"
	"unsafe"

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/probe/uprobe"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/tick"
)

// Name is the probe's name in configuration and metrics.
const Name = "cuda"

// Programs: without sampled_entry (a kernel without uprobe_multi links,
// before 6.6), every launch and GEMM is counted, whatever it costs.
var Programs = probe.Programs{
	Required: []string{cudaProgCallEntry, cudaProgAllocEnter, cudaProgAllocReturn, cudaProgHandleExit, cudaProgWatchMmap,
		cudaProgNameEnter, cudaProgNameReturn},
	Optional: map[string]string{
		cudaProgSampledEntry: "CUDA launch and GEMM sampling within --max-overhead (every call is counted instead)",
		cudaProgFindMappers:  "finding the processes that map runtime libraries in the kernel (the scan every 30 s reads every process's maps file instead)",
	},
}

// copyKinds are the kind label values, indexed like enum copy_kind.
var copyKinds = [...]string{"h2d", "d2h", "d2d", "other"}

// metrics are the series the probe exports: what Describe sends.
var metrics series.Set

// The runtime-level accelerator families: one per concept for every
// runtime (CUDA, HIP, Neuron), labelled runtime.
var (
	launchesDesc    = metrics.Workload("orb8_accelerator_kernel_launches_total", "Kernel launches by the workload, by runtime: CUDA runtime or driver API, HIP, Neuron model executions.", "runtime")
	mallocDesc      = metrics.Workload("orb8_accelerator_malloc_bytes_total", "Device memory the workload allocated through the runtime (cudaMalloc*/cuMemAlloc*, hipMalloc*, nrt_tensor_allocate), by runtime.", "runtime")
	freeDesc        = metrics.Workload("orb8_accelerator_free_bytes_total", "Device memory the workload freed through the runtime (cudaFree*/cuMemFree*, hipFree*, nrt_tensor_free), by runtime.", "runtime")
	outstandingDesc = metrics.Workload("orb8_accelerator_memory_outstanding_bytes", "Device memory the workload's live processes allocated through the runtime and have not freed, by runtime.", "runtime")
	memcpyDesc      = metrics.Workload("orb8_accelerator_memcpy_bytes_total", "Bytes copied by the runtime's copies (cudaMemcpy*/cuMemcpy*, hipMemcpy*), by runtime and direction: h2d, d2h, d2d, other (host-host or inferred).", "runtime", "kind")
	modelsDesc      = metrics.Workload("orb8_accelerator_models_loaded", "Models the workload's live processes loaded (nrt_load) and have not unloaded (nrt_unload), by runtime (nrt).", "runtime")
	leakDesc        = metrics.Workload("orb8_accelerator_memory_leak_suspected", "1 when the workload's outstanding device memory of the runtime grew through the whole leak window (--cuda-leak-window).", "runtime").Max()
	gemmsDesc       = metrics.Workload("orb8_accelerator_gemm_calls_total", "GEMM calls of the workload to the runtime's BLAS: cuBLAS (cublas*gemm*, cublasGemm*Ex) and cuBLASLt (cublasLtMatmul), a batched call counting once.", "runtime")
	gemmFlopsDesc   = metrics.Workload("orb8_accelerator_gemm_flops_total", "Floating-point operations of the workload's BLAS GEMMs, estimated from m, n, k and the batch count (2mnk, 8mnk complex); cublasLtMatmul adds none.", "runtime")
	librariesDesc   = metrics.Plain("orb8_accelerator_libraries_hooked", "Runtime library files with uprobes attached, by runtime and library (cuda: cudart, cuda, cublas, cublasLt; hip: amdhip64; nrt: nrt).", "runtime", "library")
	sampledDesc     = metrics.Plain("orb8_accelerator_sampled_processes", "Processes whose accelerator calls are counted in windows with gaps between them, to keep their trap time under --max-overhead.", "runtime")
	samplingDesc    = metrics.Plain("orb8_accelerator_sampling_ratio", "Share of the node's accelerator calls of a kind that were counted, the rest estimated from the sampling windows (1: all counted; --cuda-exact).", "runtime", "call")
)

// Probe is the CUDA probe.
type Probe struct {
	opts      Options
	objs      *probe.Objects
	bpf       cudaObjects
	env       probe.Env
	attacher  *attacher
	sampler   *sampler // nil when every call is counted
	leaks     *leakDetector[runtimeWorkload]
	stop      context.CancelFunc // ends discover
	wg        sync.WaitGroup
	stopLeaks func()
	rescan    chan int
	kernels   *kernelNames // launches by kernel name (kernels.go)
	comms     probe.Comms  // of the launch events' reader
	stopNames func()
}

// New returns an unstarted CUDA probe with opts.
func New(opts Options) *Probe { return &Probe{opts: opts} }

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects { return p.objs }

// Start implements probe.Probe: it loads the programs, hooks the libraries
// processes map now, then follows new executable mappings.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	spec, err := loadCuda()
	if err != nil {
		return err
	}
	objs, err := probe.Load(spec, &p.bpf, probe.LoadOptions{
		Programs: Programs,
		Manual: []string{cudaProgCallEntry, cudaProgSampledEntry, cudaProgAllocEnter, cudaProgAllocReturn, cudaProgNameEnter, cudaProgNameReturn,
			cudaProgFindMappers},
		PerCgroup: []string{cudaMapStats},
	})
	if err != nil {
		return err
	}
	p.objs, p.env = objs, env
	exact := p.opts.Exact || p.bpf.SampledEntry == nil
	p.attacher = newAttacher(programs{
		entry:       p.bpf.CallEntry,
		allocEnter:  p.bpf.AllocEnter,
		allocReturn: p.bpf.AllocReturn,
		nameEnter:   p.bpf.NameEnter,
		nameReturn:  p.bpf.NameReturn,
	}, exact, env.Log)
	if p.bpf.FindMappers != nil {
		if p.attacher.mappers, err = link.AttachIter(link.IterOptions{Program: p.bpf.FindMappers}); err != nil {
			objs.Failed[cudaProgFindMappers] = probe.Explain(ebpf.Tracing, err)
		}
	}
	if !exact {
		p.sampler = newSampler(p.bpf.SampledEntry, p.bpf.Windows, p.attacher.sampledTargets, env.Budget(),
			p.opts.samplingTiming(), env.Log)
		p.attacher.onProcess = p.sampler.track
	}
	p.leaks = newLeakDetector[runtimeWorkload]()
	p.rescan = make(chan int, 1024)
	if err := objs.ReadRing(p.bpf.Mmaps, p.handleMmap); err != nil {
		p.Close()
		return err
	}
	if p.stopNames, err = p.startKernels(ctx); err != nil {
		p.Close()
		return err
	}
	// The mmap hook runs before the first scan, so no mapping falls between.
	p.attacher.scanAll()

	ctx, p.stop = context.WithCancel(ctx)
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		uprobe.Discover(ctx, p.rescan, func(pid int) { p.attacher.scanPID(pid) }, p.attacher.scanAll)
	}()
	if p.sampler != nil {
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.sampler.run(ctx)
		}()
	}
	p.stopLeaks = tick.Every(ctx, max(p.opts.LeakWindow/leakSteps, time.Second), p.sampleLeaks)
	return nil
}

func (p *Probe) handleMmap(raw []byte) {
	if len(raw) < int(unsafe.Sizeof(cudaMmapEvent{})) {
		return
	}
	e := (*cudaMmapEvent)(unsafe.Pointer(&raw[0]))
	select {
	case p.rescan <- int(e.Tgid):
	default: // the periodic full scan catches up
	}
}

// runtimeWorkload is a workload's use of one runtime.
type runtimeWorkload struct {
	w       cgroup.Workload
	runtime cudaRuntime
}

// collectStats calls emit once per workload and runtime, with the sums over
// CPUs of the in-kernel table.
func (p *Probe) collectStats(emit func(w cgroup.Workload, rt cudaRuntime, s *cudaCudaStats)) error {
	split := func(k cudaStatsKey) (uint64, cudaStatsKey) {
		return k.CgroupId, cudaStatsKey{Runtime: k.Runtime}
	}
	return probe.CollectPerCPUKeyed(p.bpf.Stats, p.env.Resolver, split, addStats,
		func(w cgroup.Workload, k cudaStatsKey, s *cudaCudaStats) {
			if int(k.Runtime) < len(runtimes) {
				emit(w, cudaRuntime(k.Runtime), s)
			}
		})
}

// sampleLeaks feeds the leak detector one sample of outstanding memory per
// workload and runtime.
func (p *Probe) sampleLeaks(time.Time) {
	sample := map[runtimeWorkload]int64{}
	err := p.collectStats(func(w cgroup.Workload, rt cudaRuntime, s *cudaCudaStats) {
		sample[runtimeWorkload{w, rt}] = s.Outstanding
	})
	if err != nil {
		p.env.Log.Warn("sample accelerator memory", "err", err)
		return
	}
	p.leaks.observe(sample)
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	if p.objs == nil {
		return nil
	}
	if p.stop != nil {
		p.stop()
		p.stopLeaks()
	}
	if p.stopNames != nil {
		p.stopNames()
	}
	p.wg.Wait()
	if p.sampler != nil {
		p.sampler.close()
	}
	p.attacher.close()
	return probe.Release(&p.objs)
}

// Describe implements probe.Probe.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Collect implements probe.Probe: one pass over the in-kernel table, with
// the sampler's estimates added.
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	if p.objs == nil {
		return nil
	}
	estimated := p.estimates()
	var counted, total [len(sampledCalls)]float64
	err := p.collectStats(func(w cgroup.Workload, runtime cudaRuntime, s *cudaCudaStats) {
		var e estimate // the sampler's, of CUDA launches and GEMMs only
		if runtime == cudaRuntimeRUNTIME_CUDA {
			e = estimated[w]
			seen := [len(sampledCalls)]float64{float64(s.Launches), float64(s.Gemms)}
			for i := range seen {
				counted[i] += seen[i]
				total[i] += seen[i] + e[i]
			}
		}
		row := series.NewRow(w)
		rt := runtimes[runtime]
		ch <- row.Metric(launchesDesc, prometheus.CounterValue, float64(s.Launches)+e[0], rt)
		ch <- row.Metric(mallocDesc, prometheus.CounterValue, float64(s.MallocBytes), rt)
		ch <- row.Metric(freeDesc, prometheus.CounterValue, float64(s.FreeBytes), rt)
		ch <- row.Metric(outstandingDesc, prometheus.GaugeValue, float64(max(s.Outstanding, 0)), rt)
		for i, kind := range copyKinds {
			ch <- row.Metric(memcpyDesc, prometheus.CounterValue, float64(s.MemcpyBytes[i]), rt, kind)
		}
		ch <- row.Metric(gemmsDesc, prometheus.CounterValue, float64(s.Gemms)+e[1], rt)
		ch <- row.Metric(gemmFlopsDesc, prometheus.CounterValue, float64(s.GemmFlops)+e[estimatedFlops], rt)
		leak := 0.0
		if p.leaks.isSuspected(runtimeWorkload{w, runtime}) {
			leak = 1
		}
		ch <- row.Metric(leakDesc, prometheus.GaugeValue, leak, rt)
		if runtime == cudaRuntimeRUNTIME_NRT { // the only runtime that loads models
			ch <- row.Metric(modelsDesc, prometheus.GaugeValue, float64(max(s.Models, 0)), rt)
		}
	})
	for i, call := range sampledCalls {
		ratio := 1.0
		if total[i] > 0 {
			ratio = counted[i] / total[i]
		}
		ch <- prometheus.MustNewConstMetric(samplingDesc, prometheus.GaugeValue, ratio, "cuda", call)
	}
	sampled := 0
	if p.sampler != nil {
		sampled = p.sampler.dutyCycled()
	}
	ch <- prometheus.MustNewConstMetric(sampledDesc, prometheus.GaugeValue, float64(sampled), "cuda")
	err = errors.Join(err, p.collectKernels(ch))
	hooked := p.attacher.attached()
	for _, lib := range libraries {
		ch <- prometheus.MustNewConstMetric(librariesDesc, prometheus.GaugeValue, float64(hooked[lib.name]), runtimes[lib.runtime], lib.name)
	}
	return err
}

// estimates returns the sampler's estimates by workload, as CollectPerCPU
// names workloads (folded, without id).
func (p *Probe) estimates() map[cgroup.Workload]estimate {
	if p.sampler == nil {
		return nil
	}
	out := map[cgroup.Workload]estimate{}
	for id, e := range p.sampler.estimates() {
		w, ok := p.env.Resolver.Visible(id)
		if !ok {
			continue
		}
		w.ID = 0
		sum := out[w]
		for i := range e {
			sum[i] += e[i]
		}
		out[w] = sum
	}
	return out
}

// Forget implements probe.Forgetter: the estimates of gone cgroups.
func (p *Probe) Forget(ids []uint64) {
	if p.kernels != nil {
		p.kernels.forget(ids)
	}
	if p.sampler != nil {
		p.sampler.forget(ids)
	}
}

func addStats(dst, src *cudaCudaStats) {
	dst.Launches += src.Launches
	dst.MallocBytes += src.MallocBytes
	dst.FreeBytes += src.FreeBytes
	dst.Outstanding += src.Outstanding
	for i := range dst.MemcpyBytes {
		dst.MemcpyBytes[i] += src.MemcpyBytes[i]
	}
	dst.Gemms += src.Gemms
	dst.GemmFlops += src.GemmFlops
	dst.Models += src.Models
}
