//go:build cgo

package amdsmi

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/accelerator"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/gpu"
	"github.com/orb8/orb8/internal/series"
)

// vendor is the value of the vendor label of every amd-smi series.
const vendor = "amd"

// procKey is one process on one GPU.
type procKey struct {
	gpu string
	pid uint32
}

// engineSample is a process's graphics engine time at a poll.
type engineSample struct {
	ns uint64
	at time.Time
}

// workloadGPU is one workload on one GPU.
type workloadGPU struct {
	w         cgroup.Workload
	gpu, uuid string
}

// reading is what one poll read of one GPU.
type reading struct {
	series  []prometheus.Metric
	util    float64
	hasUtil bool
	procs   []process
}

// poll reads every GPU, concurrently (a PCIe reading takes a second), and
// replaces the exported series.
func (p *Probe) poll(ctx context.Context) {
	readings := make([]reading, len(p.gpus))
	var wg sync.WaitGroup
	for i := range p.gpus {
		wg.Add(1)
		go func() {
			defer wg.Done()
			readings[i] = p.read(p.gpus[i])
		}()
	}
	wg.Wait()
	now := time.Now()

	var utils []float64
	var all []prometheus.Metric
	mem := map[workloadGPU]float64{}
	busy := map[workloadGPU]float64{}
	seen := map[procKey]bool{}
	for i, r := range readings {
		all = append(all, r.series...)
		if r.hasUtil {
			utils = append(utils, r.util)
		}
		p.attribute(p.gpus[i], r.procs, now, mem, busy, seen)
	}
	p.forgetExited(seen)
	if len(utils) > 1 {
		all = append(all, gauge(accelerator.ImbalanceDesc, gpu.Imbalance(utils), vendor))
	}
	for k, v := range mem {
		all = append(all, series.Metric(accelerator.WorkloadMemoryUsedDesc, prometheus.GaugeValue, v, k.w, vendor, k.gpu, k.uuid))
	}
	for k, v := range busy {
		all = append(all, series.Metric(accelerator.WorkloadUtilizationDesc, prometheus.GaugeValue, min(v, 1), k.w, vendor, k.gpu, k.uuid))
	}
	all = append(all, p.podSeries(ctx)...)
	p.Keep(all)
}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}

// read reads one GPU's device figures and processes.
func (p *Probe) read(g gpuInfo) reading {
	var r reading
	labels := []string{vendor, g.index, g.uuid, g.model}
	add := func(d *prometheus.Desc, v float64, extra ...string) {
		r.series = append(r.series, gauge(d, v, append(append([]string{}, labels...), extra...)...))
	}
	if pct, ok := g.h.activity(); ok {
		r.util, r.hasUtil = float64(min(pct, 100))/100, true
		add(accelerator.UtilizationDesc, r.util)
	}
	if used, total, ok := g.h.memory(); ok {
		add(accelerator.MemoryUsedDesc, float64(used))
		add(accelerator.MemoryTotalDesc, float64(total))
	}
	if c, ok := g.h.temperature(); ok {
		add(accelerator.TemperatureDesc, float64(c))
	}
	if w, ok := g.h.power(); ok {
		add(accelerator.PowerDesc, float64(w))
	}
	if sent, received, ok := g.h.pcie(); ok {
		add(accelerator.PCIeDesc, float64(sent), "tx")
		add(accelerator.PCIeDesc, float64(received), "rx")
	}
	if bits, ok := g.h.throttle(); ok {
		for _, t := range throttleReasons {
			v := 0.0
			if bits&t.mask != 0 {
				v = 1
			}
			add(accelerator.ThrottledDesc, v, t.label)
		}
	}
	if p.version.hasProcInfo() {
		procs, truncated, err := g.h.processes()
		if err != nil {
			p.env.Log.Debug("amd-smi processes", "gpu", g.index, "err", err)
		} else if truncated {
			p.env.Log.Debug("amd-smi processes past the limit skipped", "gpu", g.index, "limit", maxProcesses)
		}
		r.procs = procs
	}
	return r
}

// attribute adds a GPU's processes' memory and engine time to their
// workloads; a record whose name is not the process's (the layout of an
// amd-smi version orb8 does not know) is skipped.
func (p *Probe) attribute(g gpuInfo, procs []process, now time.Time, mem, busy map[workloadGPU]float64, seen map[procKey]bool) {
	for _, pr := range procs {
		if !p.sameProcess(pr) {
			continue
		}
		w, ok := p.env.WorkloadOfPID(p.proc, pr.pid)
		if !ok {
			continue // exited since amd-smi listed it, or not reported on
		}
		k := workloadGPU{w: w, gpu: g.index, uuid: g.uuid}
		mem[k] += float64(pr.vram)
		pk := procKey{g.index, pr.pid}
		seen[pk] = true
		p.mu.Lock()
		last, had := p.engine[pk]
		p.engine[pk] = engineSample{pr.gfxNs, now}
		p.mu.Unlock()
		busy[k] += 0 // a running process is exported at 0 until a second sample
		if had && pr.gfxNs >= last.ns && now.After(last.at) {
			busy[k] += float64(pr.gfxNs-last.ns) / float64(now.Sub(last.at).Nanoseconds())
		}
	}
}

// sameProcess checks an amd-smi process record against /proc: its name is
// the process's comm.
func (p *Probe) sameProcess(pr process) bool {
	comm, err := os.ReadFile(filepath.Join(p.proc, strconv.FormatUint(uint64(pr.pid), 10), "comm"))
	if err != nil {
		return false // exited
	}
	if name := strings.TrimSuffix(string(comm), "\n"); pr.name != "" && strings.HasPrefix(pr.name, name) {
		return true
	}
	p.mu.Lock()
	first := !p.mismatch
	p.mismatch = true
	p.mu.Unlock()
	if first {
		p.env.Log.Warn("amd-smi process records do not match /proc: per-process GPU memory skipped (amd-smi version not known to orb8?)",
			"version", p.version, "pid", pr.pid, "name", pr.name)
	}
	return false
}

// forgetExited drops the engine samples of processes no longer listed.
func (p *Probe) forgetExited(seen map[procKey]bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for k := range p.engine {
		if !seen[k] {
			delete(p.engine, k)
		}
	}
}

// podSeries exports which pod holds which GPU: the AMD device plugin names
// GPUs by PCI address.
func (p *Probe) podSeries(ctx context.Context) []prometheus.Metric {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	allocs, err := p.pods.Allocations(ctx, gpu.AMDGPUResource)
	if err != nil {
		p.env.Log.Warn("AMD GPU allocations from the kubelet", "err", err)
		return nil
	}
	return gpu.AllocatedSeries(allocs, vendor, func(_, id string) (string, bool) {
		for _, g := range p.gpus {
			if strings.EqualFold(id, g.bdf) || id == g.uuid && g.uuid != "" {
				return g.index, true
			}
		}
		return "", false
	})
}
