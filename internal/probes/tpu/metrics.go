package tpu

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/accelerator"
	"github.com/orb8/orb8/internal/series"
)

// vendor is the value of the vendor label of every TPU series.
const vendor = "google"

// metrics are the series the probe exports: what Describe sends.
var metrics series.Set

// The per-workload accelerator families: one name per concept for every
// vendor, labelled vendor and device (the vendor's device index on the
// node: for a TPU, the chip's device-id as libtpu reports it). Memory used
// and utilization are shared with the other vendors (package accelerator),
// with a uuid label that a TPU leaves empty.
var (
	memUsedDesc  = accelerator.WorkloadMemoryUsedDesc
	memTotalDesc = metrics.Workload("orb8_workload_accelerator_memory_total_bytes", "Accelerator memory (TPU HBM) of each device the workload uses.", "vendor", "device")
	utilDesc     = accelerator.WorkloadUtilizationDesc
	memBWDesc    = metrics.Workload("orb8_workload_accelerator_memory_bandwidth_utilization_ratio", "Share of the device's memory bandwidth the workload uses (TPU HBM).", "vendor", "device")
	idleDesc     = metrics.Workload("orb8_workload_accelerator_idle_seconds", "How long the device's compute engine has been idle for the workload (TPU TensorCore).", "vendor", "device")
	queueDesc    = metrics.Workload("orb8_workload_accelerator_queued_programs", "Programs the workload queued on the device, not yet run (TPU HLO queue, summed over the chip's cores).", "vendor", "device")
	otherDesc    = metrics.Workload("orb8_workload_accelerator_runtime_gauge", "Any other gauge the accelerator runtime's metrics service lists, by its own name (libtpu).", "vendor", "device", "metric")

	endpointsDesc = metrics.Plain("orb8_tpu_endpoints", "TPU workloads whose libtpu metrics service was found and polled.")
	errorsDesc    = metrics.Plain("orb8_tpu_poll_errors_total", "Failures polling TPU workloads' metrics services, by reason.", "reason")
)

// family is how one libtpu metric becomes an orb8 series.
type family struct {
	desc  *series.Desc
	scale float64 // to orb8's unit: percent to ratio
	sum   bool    // several points of one device add up (per-core values)
}

// known are the libtpu gauges with an orb8 family of their own (names as
// tpu-info's client reads them).
var known = map[string]family{
	"tpu.runtime.hbm.memory.usage.bytes":           {desc: memUsedDesc, scale: 1},
	"tpu.runtime.hbm.memory.total.bytes":           {desc: memTotalDesc, scale: 1},
	"tpu.runtime.tensorcore.dutycycle.percent":     {desc: utilDesc, scale: 0.01},
	"tpu.runtime.hbm.utilization.percent":          {desc: memBWDesc, scale: 0.01},
	"tpu.runtime.tensorcore.idle_duration.seconds": {desc: idleDesc, scale: 1},
	"hlo.queue.size.gauge":                         {desc: queueDesc, scale: 1, sum: true},
}

// Error reasons of orb8_tpu_poll_errors_total.
const (
	reasonConnect       = "connect"        // the service does not answer
	reasonTimeout       = "timeout"        // a call ran past --tpu-timeout
	reasonTooLarge      = "too_large"      // a response over maxMessage
	reasonRPC           = "rpc"            // a call failed otherwise
	reasonMalformed     = "malformed"      // points skipped: no device, not a number
	reasonEndpointsFull = "endpoints_full" // workloads past --tpu-max-endpoints
	reasonMetricsFull   = "metrics_full"   // listed metrics past maxMetrics
)

var reasons = []string{reasonConnect, reasonTimeout, reasonTooLarge, reasonRPC, reasonMalformed, reasonEndpointsFull, reasonMetricsFull}

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}
