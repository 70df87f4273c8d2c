package neuron

import (
	"context"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/accelerator"
	"github.com/orb8/orb8/internal/gpu"
)

// poll reads every NeuronCore's counters and replaces the exported series.
func (p *Probe) poll(ctx context.Context, now time.Time) {
	var all, utils []prometheus.Metric
	var ratios []float64
	for _, d := range p.devices {
		dev := strconv.Itoa(d.index)
		devLabels := []string{vendor, dev, d.serial, d.model}
		var mem uint64
		var coreRatios []float64
		for _, c := range d.cores {
			labels := []string{vendor, dev, strconv.Itoa(c.index), d.serial, d.model}
			if used, ok := p.coreMemory(c); ok {
				mem += used
				all = append(all, gauge(coreMemDesc, float64(used), labels...))
			}
			if r, ok := p.coreUtilization(d.index, c, now); ok {
				coreRatios = append(coreRatios, r)
				utils = append(utils, gauge(coreUtilDesc, r, labels...))
			}
		}
		all = append(all, gauge(accelerator.MemoryUsedDesc, float64(mem), devLabels...))
		if len(coreRatios) > 0 {
			u := mean(coreRatios)
			ratios = append(ratios, u)
			all = append(all, gauge(accelerator.UtilizationDesc, u, devLabels...))
		}
	}
	all = append(all, utils...)
	if len(ratios) > 1 {
		all = append(all, gauge(accelerator.ImbalanceDesc, gpu.Imbalance(ratios), vendor))
	}
	layout := "by_name"
	if v, err := parseVersion([]byte(p.driver)); err == nil && !v.atLeast(movedAt.major, movedAt.minor) {
		layout = "documented"
	}
	all = append(all, gauge(driverDesc, 1, p.driver, layout))
	all = append(all, p.podSeries(ctx)...)
	p.Keep(all)
}

// coreMemory sums a core's device memory categories; false if none could
// be read.
func (p *Probe) coreMemory(c core) (uint64, bool) {
	var sum uint64
	read := false
	for _, f := range c.memFiles {
		if v, err := readCounter(f); err == nil {
			sum += v
			read = true
		}
	}
	return sum, read
}

// coreUtilization is the share of the time since the last poll the core
// was in use: microseconds in use over microseconds elapsed, at most 1.
// The first poll, a counter that went back (cleared by a write, the
// driver reloaded) or an unreadable one give none.
func (p *Probe) coreUtilization(device int, c core, now time.Time) (float64, bool) {
	if c.timeFile == "" {
		return 0, false
	}
	us, err := readCounter(c.timeFile)
	k := [2]int{device, c.index}
	p.mu.Lock()
	defer p.mu.Unlock()
	if err != nil {
		delete(p.last, k)
		return 0, false
	}
	last, had := p.last[k]
	p.last[k] = timeSample{us, now}
	elapsed := now.Sub(last.at).Microseconds()
	if !had || us < last.us || elapsed <= 0 {
		return 0, false
	}
	return min(float64(us-last.us)/float64(elapsed), 1), true
}

func mean(xs []float64) float64 {
	var s float64
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}

// podSeries exports which pod holds which Neuron device: a NeuronCore
// allocation counts for the device holding the core.
func (p *Probe) podSeries(ctx context.Context) []prometheus.Metric {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	allocs, err := p.pods.Allocations(ctx, gpu.NeuronDeviceResource, gpu.NeuronCoreResource)
	if err != nil {
		p.env.Log.Warn("Neuron allocations from the kubelet", "err", err)
		return nil
	}
	return gpu.AllocatedSeries(allocs, vendor, p.deviceOf)
}

// deviceOf maps a Neuron device plugin ID to the device's index: a
// device's ID ends with its index; a NeuronCore's with its index across the
// node, cores numbered device by device.
func (p *Probe) deviceOf(resource, id string) (string, bool) {
	n, ok := trailingIndex(id)
	if !ok {
		return "", false
	}
	if resource == gpu.NeuronCoreResource {
		for _, d := range p.devices {
			if n < len(d.cores) {
				return strconv.Itoa(d.index), true
			}
			n -= len(d.cores)
		}
		return "", false
	}
	for _, d := range p.devices {
		if d.index == n {
			return strconv.Itoa(n), true
		}
	}
	return "", false
}
