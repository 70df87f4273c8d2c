// Package drm is the DRM client probe: for any GPU whose kernel driver
// prints the DRM client usage stats (amdgpu, i915, xe, msm, panfrost,
// panthor, ...), per-workload engine busy time or cycles, utilization and
// memory by region, read from /proc/<pid>/fdinfo and attributed through
// each process's cgroup. No vendor library, no BPF: a scan of /proc in the
// background; a scrape sends the last scan's table.
package drm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"regexp"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/tick"
)

// Name is the probe's name in configuration and metrics.
const Name = "drm"

const defaultInterval = 5 * time.Second

// metrics are the series the probe exports: what Describe sends.
var metrics series.Set

var (
	engineLabels = []string{"vendor", "driver", "device", "engine"}

	busyDesc = metrics.Workload("orb8_workload_accelerator_engine_busy_seconds_total",
		"Time the device's engines of the class spent on the workload's work (DRM fdinfo drm-engine-*; drivers that report time: amdgpu, i915, msm, panfrost, ...).", engineLabels...)
	cyclesDesc = metrics.Workload("orb8_workload_accelerator_engine_busy_cycles_total",
		"GPU cycles the device's engines of the class spent on the workload's work (DRM fdinfo drm-cycles-*; xe reports cycles, not time).", engineLabels...)
	utilDesc = metrics.Workload("orb8_workload_accelerator_engine_utilization_ratio",
		"Share of the engine class the workload kept busy over the last scan interval: busy cycles over the GPU clock's where the driver gives both, else busy time over wall time; divided by the engines in the class.", engineLabels...)
	memoryDesc = metrics.Workload("orb8_workload_accelerator_memory_region_bytes",
		"GPU buffer memory of the workload's DRM clients by region and kind (total, shared, resident, purgeable, active; DRM fdinfo drm-<kind>-<region>).",
		"vendor", "driver", "device", "region", "kind")
	capacityDesc = metrics.Plain("orb8_accelerator_engine_capacity",
		"Engines of the class on the device (DRM fdinfo drm-engine-capacity-*, 1 when absent).", engineLabels...)
	clockDesc = metrics.Plain("orb8_accelerator_engine_clock_cycles_total",
		"The device's GPU clock for the class as its clients last read it (DRM fdinfo drm-total-cycles-*): the denominator of busy cycles.", engineLabels...)
	droppedDesc = metrics.Plain("orb8_accelerator_drm_dropped_total",
		"DRM client figures not counted, per scan: fdinfo files with lines that did not parse (malformed; the rest of the file counts), clients over the table's bound (clients), figures over the series bound (series).", "reason")
)

// Probe is the DRM client probe.
type Probe struct {
	// Settings, fixed before Start.
	interval time.Duration
	proc     string // procfs mount
	sysClass string // /sys/class: which DRM and accel nodes exist

	scan *scanner
	stop func()
}

// New returns an unstarted DRM probe over the host's /proc and sysfs.
func New() *Probe { return &Probe{interval: defaultInterval, proc: "/proc", sysClass: "/sys/class"} }

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe: the probe has no BPF.
func (p *Probe) Objects() *probe.Objects { return nil }

// nodeClasses are the device file directories of DRM clients, by the
// sysfs class that lists their nodes; nodes match the primary, render and
// compute accelerator nodes (not connectors such as card0-HDMI-A-1).
var nodeClasses = []struct {
	dev, class string
	node       *regexp.Regexp
}{
	{"/dev/dri/", "drm", regexp.MustCompile(`^(card|renderD)[0-9]+$`)},
	{"/dev/accel/", "accel", regexp.MustCompile(`^accel[0-9]+$`)},
}

// errNoDevice is Start's error on a host without a DRM GPU or accelerator.
var errNoDevice = errors.New("no DRM device: /sys/class/drm has no card or renderD node, /sys/class/accel no accel node")

// Start implements probe.Probe: it fails on a host without a DRM device,
// else scans once, then every interval.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	if !hasDevice(p.sysClass) {
		return errNoDevice
	}
	p.scan = newScanner(p.proc, env.CgroupRoot, p.sysClass, env.Resolver)
	p.scan.scan(time.Now())
	p.stop = tick.Every(ctx, p.interval, p.scan.scan)
	return nil
}

// hasDevice reports whether sysfs lists a DRM or accel node. sysfs, not
// /dev: a container sees the host's devices there without their nodes.
func hasDevice(sysClass string) bool {
	for _, c := range nodeClasses {
		entries, _ := os.ReadDir(filepath.Join(sysClass, c.class))
		for _, e := range entries {
			if c.node.MatchString(e.Name()) {
				return true
			}
		}
	}
	return false
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	if p.stop != nil {
		p.stop()
		p.stop = nil
	}
	p.scan = nil
	return nil
}

// Forget implements probe.Forgetter: the engine series of gone cgroups.
func (p *Probe) Forget(ids []uint64) {
	if p.scan != nil {
		p.scan.Forget(ids)
	}
}

// Describe implements probe.Probe.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Collect implements probe.Probe: the table of the last scan.
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	if p.scan == nil {
		return nil
	}
	t := p.scan.snapshot()
	for _, w := range t.workloads {
		row := series.NewRow(w.w)
		for _, e := range w.engines {
			if e.hasBusy {
				ch <- row.Metric(busyDesc, prometheus.CounterValue, float64(e.busyNs)/1e9, e.labels...)
			}
			if e.hasCycles {
				ch <- row.Metric(cyclesDesc, prometheus.CounterValue, float64(e.cycles), e.labels...)
			}
			if e.hasRatio {
				ch <- row.Metric(utilDesc, prometheus.GaugeValue, e.ratio, e.labels...)
			}
		}
		for _, m := range w.memory {
			ch <- row.Metric(memoryDesc, prometheus.GaugeValue, float64(m.bytes), m.labels...)
		}
	}
	for _, d := range t.devices {
		ch <- prometheus.MustNewConstMetric(capacityDesc, prometheus.GaugeValue, float64(d.capacity), d.labels...)
		if d.hasTotal {
			ch <- prometheus.MustNewConstMetric(clockDesc, prometheus.CounterValue, float64(d.totalCycles), d.labels...)
		}
	}
	for reason, n := range t.dropped {
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(n), reason)
	}
	return nil
}
