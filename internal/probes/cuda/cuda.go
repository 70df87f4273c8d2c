// Package cuda is the CUDA probe: uprobes on the CUDA runtime (libcudart) and
// driver (libcuda) of every process, in any container, aggregated per
// workload in the kernel: kernel launches, device memory allocated, freed and
// outstanding, memcpy bytes by direction, cuBLAS GEMM calls and FLOPs, and
// suspected leaks.
package cuda

import (
	"context"
	"sync"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
)

// Name is the probe's name in configuration and metrics.
const Name = "cuda"

// Programs are all required.
var Programs = probe.Programs{Required: []string{"call_entry", "alloc_enter", "alloc_return", "handle_exit", "watch_mmap"}}

const (
	// rescanDelay lets a reported mmap finish, and batches a process's
	// mappings at exec or dlopen into one read of its maps.
	rescanDelay = 150 * time.Millisecond
	// fullScanEvery catches what the mmap reports missed (a full ring) and
	// unhooks library files no process maps any more.
	fullScanEvery = 30 * time.Second
)

// copyKinds are the kind label values, indexed like enum copy_kind.
var copyKinds = [...]string{"h2d", "d2h", "d2d", "other"}

var (
	launchesDesc    = probe.WorkloadDesc("orb8_cuda_kernel_launches_total", "CUDA kernel launches (runtime or driver API) by the workload.")
	mallocDesc      = probe.WorkloadDesc("orb8_cuda_malloc_bytes_total", "Device memory the workload allocated through cudaMalloc*/cuMemAlloc*.")
	freeDesc        = probe.WorkloadDesc("orb8_cuda_free_bytes_total", "Device memory the workload freed through cudaFree*/cuMemFree*.")
	outstandingDesc = probe.WorkloadDesc("orb8_cuda_memory_outstanding_bytes", "Device memory the workload's live processes allocated and have not freed.")
	memcpyDesc      = probe.WorkloadDesc("orb8_cuda_memcpy_bytes_total", "Bytes copied by cudaMemcpy*/cuMemcpy*, by direction: h2d, d2h, d2d, other (host-host or inferred).", "kind")
	leakDesc        = probe.WorkloadDesc("orb8_cuda_memory_leak_suspected", "1 when the workload's outstanding device memory grew through the whole leak window (--cuda-leak-window).")
	gemmsDesc       = probe.WorkloadDesc("orb8_cuda_gemm_calls_total", "GEMM calls of the workload to cuBLAS (cublas*gemm*, cublasGemm*Ex) and cuBLASLt (cublasLtMatmul), a batched call counting once.")
	gemmFlopsDesc   = probe.WorkloadDesc("orb8_cuda_gemm_flops_total", "Floating-point operations of the workload's cuBLAS GEMMs, estimated from m, n, k and the batch count (2mnk, 8mnk complex); cublasLtMatmul adds none.")
	librariesDesc   = prometheus.NewDesc("orb8_cuda_libraries_hooked", "CUDA library files with uprobes attached, by library (cudart, cuda, cublas, cublasLt).", []string{"library"}, nil)
)

// Probe is the CUDA probe.
type Probe struct {
	objs     *probe.Objects
	env      probe.Env
	attacher *attacher
	leaks    *leakDetector
	stop     context.CancelFunc
	wg       sync.WaitGroup
	rescan   chan int
}

// New returns an unstarted CUDA probe.
func New() *Probe { return &Probe{} }

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
	objs, err := probe.Load(spec, probe.LoadOptions{
		Programs: Programs,
		Manual:   []string{"call_entry", "alloc_enter", "alloc_return"},
	})
	if err != nil {
		return err
	}
	p.objs, p.env = objs, env
	p.attacher = newAttacher(programs{
		entry:       objs.Programs["call_entry"],
		allocEnter:  objs.Programs["alloc_enter"],
		allocReturn: objs.Programs["alloc_return"],
	}, env.Log)
	p.leaks = newLeakDetector()
	p.rescan = make(chan int, 1024)
	if err := objs.ReadRing("mmaps", p.handleMmap); err != nil {
		p.Close()
		return err
	}
	// The mmap hook runs before the first scan, so no mapping falls between.
	p.attacher.scanAll()

	ctx, p.stop = context.WithCancel(ctx)
	p.wg.Add(2)
	go p.discover(ctx)
	go p.sampleLeaks(ctx, max(env.Config.CUDALeakWindow/leakSteps, time.Second))
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

// discover rescans processes that mapped CUDA libraries, each once per
// burst of mappings, and everything now and then. Its timer runs only while
// a rescan is due, so an idle agent is not woken for nothing.
func (p *Probe) discover(ctx context.Context) {
	defer p.wg.Done()
	full := time.NewTicker(fullScanEvery)
	defer full.Stop()
	due := map[int]time.Time{}
	timer := time.NewTimer(rescanDelay)
	timer.Stop()
	defer timer.Stop()
	var wake <-chan time.Time // nil while nothing is due
	for {
		select {
		case <-ctx.Done():
			return
		case pid := <-p.rescan:
			if _, ok := due[pid]; !ok {
				due[pid] = time.Now().Add(rescanDelay)
			}
			if wake == nil {
				timer.Reset(rescanDelay)
				wake = timer.C
			}
		case now := <-wake:
			var next time.Time
			for pid, at := range due {
				if !now.Before(at) {
					delete(due, pid)
					p.attacher.scanPID(pid)
				} else if next.IsZero() || at.Before(next) {
					next = at
				}
			}
			if next.IsZero() {
				wake = nil
			} else {
				timer.Reset(next.Sub(now))
			}
		case <-full.C:
			p.attacher.scanAll()
		}
	}
}

// sampleLeaks feeds the leak detector one sample of outstanding memory per
// workload every step.
func (p *Probe) sampleLeaks(ctx context.Context, step time.Duration) {
	defer p.wg.Done()
	tick := time.NewTicker(step)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
			sample := map[cgroup.Workload]int64{}
			err := probe.CollectPerCPU(p.objs.Maps["stats"], p.env.Resolver, addStats, func(w cgroup.Workload, s *cudaCudaStats) {
				sample[w] = s.Outstanding
			})
			if err != nil {
				p.env.Log.Warn("sample CUDA memory", "err", err)
				continue
			}
			p.leaks.observe(sample)
		}
	}
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	if p.objs == nil {
		return nil
	}
	if p.stop != nil {
		p.stop()
	}
	p.wg.Wait()
	p.attacher.close()
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
	for _, d := range []*prometheus.Desc{launchesDesc, mallocDesc, freeDesc, outstandingDesc, memcpyDesc, gemmsDesc, gemmFlopsDesc, leakDesc, librariesDesc} {
		ch <- d
	}
}

// Collect implements prometheus.Collector: one pass over the in-kernel table.
func (p *Probe) Collect(ch chan<- prometheus.Metric) {
	if p.objs == nil {
		return
	}
	err := probe.CollectPerCPU(p.objs.Maps["stats"], p.env.Resolver, addStats, func(w cgroup.Workload, s *cudaCudaStats) {
		ch <- probe.WorkloadMetric(launchesDesc, prometheus.CounterValue, float64(s.Launches), w)
		ch <- probe.WorkloadMetric(mallocDesc, prometheus.CounterValue, float64(s.MallocBytes), w)
		ch <- probe.WorkloadMetric(freeDesc, prometheus.CounterValue, float64(s.FreeBytes), w)
		ch <- probe.WorkloadMetric(outstandingDesc, prometheus.GaugeValue, float64(max(s.Outstanding, 0)), w)
		for i, kind := range copyKinds {
			ch <- probe.WorkloadMetric(memcpyDesc, prometheus.CounterValue, float64(s.MemcpyBytes[i]), w, kind)
		}
		ch <- probe.WorkloadMetric(gemmsDesc, prometheus.CounterValue, float64(s.Gemms), w)
		ch <- probe.WorkloadMetric(gemmFlopsDesc, prometheus.CounterValue, float64(s.GemmFlops), w)
		leak := 0.0
		if p.leaks.isSuspected(w) {
			leak = 1
		}
		ch <- probe.WorkloadMetric(leakDesc, prometheus.GaugeValue, leak, w)
	})
	if err != nil {
		p.env.Log.Debug("collect CUDA stats", "err", err)
	}
	hooked := p.attacher.attached()
	for _, lib := range libraries {
		ch <- prometheus.MustNewConstMetric(librariesDesc, prometheus.GaugeValue, float64(hooked[lib.name]), lib.name)
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
}
