// Package accelerator holds the metric families that several accelerator
// probes export, one family per concept whatever the vendor (NVIDIA, AMD,
// AWS, Google...): a registry takes each descriptor from one collector only,
// so the probes send these series through CollectShared and the agent
// collects them under one collector that describes them.
//
// Labels: vendor (nvidia, amd, aws, google, intel...), device (the index of
// the physical device as the vendor's own tool numbers it, as a decimal
// string), uuid (the vendor's stable id where it has one, empty otherwise)
// and, on device-level families, model.
package accelerator

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/series"
)

var families series.Set

var deviceLabels = []string{"vendor", "device", "uuid", "model"}

func deviceDesc(name, help string, extra ...string) *prometheus.Desc {
	return families.Plain(name, help, append(append([]string{}, deviceLabels...), extra...)...)
}

// Device-level families: no workload labels.
var (
	UtilizationDesc = deviceDesc("orb8_accelerator_utilization_ratio", "Fraction of the last sample period in which the device's compute engine was busy (NVML: a kernel ran).")
	MemoryUsedDesc  = deviceDesc("orb8_accelerator_memory_used_bytes", "Device memory in use.")
	MemoryTotalDesc = deviceDesc("orb8_accelerator_memory_total_bytes", "Device memory installed.")
	TemperatureDesc = deviceDesc("orb8_accelerator_temperature_celsius", "Device core temperature.")
	PowerDesc       = deviceDesc("orb8_accelerator_power_watts", "Device power draw.")
	PCIeDesc        = deviceDesc("orb8_accelerator_pcie_bytes_per_second", "PCIe throughput of the device, by direction (tx: device to host).", "direction")
	ThrottledDesc   = deviceDesc("orb8_accelerator_throttled", "1 while the device's clocks are held down for the reason (NVIDIA: NVML clock event reasons; AMD: power, current, thermal, other).", "reason")
	ImbalanceDesc   = families.Plain("orb8_accelerator_imbalance_ratio", "(max - min) / max of the utilizations of the node's devices of a vendor: 0 balanced, 1 one busy while another idles.", "vendor")
)

// Per-workload device families.
var (
	WorkloadMemoryUsedDesc  = families.Workload("orb8_workload_accelerator_memory_used_bytes", "Device memory the workload's processes use, per device (NVML process list, TPU HBM).", "vendor", "device", "uuid")
	WorkloadUtilizationDesc = families.Workload("orb8_workload_accelerator_utilization_ratio", "Share of the last sample period the device's compute engine was busy for the workload (NVML SM utilization of its processes, TPU TensorCore duty cycle).", "vendor", "device", "uuid")
)

// AllocatedDesc: pods' device allocations from the kubelet.
var AllocatedDesc = families.Plain("orb8_pod_accelerator_allocated", "1 for each accelerator device the kubelet assigned to a pod's container, busy or idle.", "namespace", "pod", "container", "vendor", "device")

// shared are the descriptors of the families, for Split.
var shared = func() map[*prometheus.Desc]bool {
	ch := make(chan *prometheus.Desc)
	go func() {
		families.Describe(ch)
		close(ch)
	}()
	out := map[*prometheus.Desc]bool{}
	for d := range ch {
		out[d] = true
	}
	return out
}()

// Describe sends the descriptors of the shared families.
func Describe(ch chan<- *prometheus.Desc) { families.Describe(ch) }

// Exporter is a probe that exports series of the shared families: its
// Collect leaves them out, CollectShared sends them.
type Exporter interface {
	CollectShared(ch chan<- prometheus.Metric)
}

// Series are a polling probe's latest series: those of the shared
// families for CollectShared, and the probe's own for CollectOwn. A probe
// that embeds it is an Exporter.
type Series struct {
	mu          sync.Mutex
	shared, own []prometheus.Metric
}

// Keep takes a poll's series, all of them, as the latest.
func (s *Series) Keep(all []prometheus.Metric) {
	var kept, own []prometheus.Metric
	for _, m := range all {
		if shared[m.Desc()] {
			kept = append(kept, m)
		} else {
			own = append(own, m)
		}
	}
	s.mu.Lock()
	s.shared, s.own = kept, own
	s.mu.Unlock()
}

// CollectShared implements Exporter.
func (s *Series) CollectShared(ch chan<- prometheus.Metric) {
	s.send(ch, func() []prometheus.Metric { return s.shared })
}

// CollectOwn sends the latest series of the probe's own families.
func (s *Series) CollectOwn(ch chan<- prometheus.Metric) {
	s.send(ch, func() []prometheus.Metric { return s.own })
}

func (s *Series) send(ch chan<- prometheus.Metric, latest func() []prometheus.Metric) {
	s.mu.Lock()
	ms := latest()
	s.mu.Unlock()
	for _, m := range ms {
		ch <- m
	}
}

// Collector exports the shared families of the probes that run: what the
// agent registers once. running reports, at each collection, the
// exporters to collect.
type Collector struct {
	Running func() []Exporter
}

// Describe implements prometheus.Collector.
func (c Collector) Describe(ch chan<- *prometheus.Desc) { Describe(ch) }

// Collect implements prometheus.Collector.
func (c Collector) Collect(ch chan<- prometheus.Metric) {
	for _, e := range c.Running() {
		e.CollectShared(ch)
	}
}

// CollectorOf is a Collector of fixed exporters (tests, and a probe run
// alone).
func CollectorOf(e ...Exporter) Collector {
	return Collector{Running: func() []Exporter { return e }}
}
