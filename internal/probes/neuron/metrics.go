package neuron

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/series"
)

// vendor is the value of the vendor label of every Neuron series.
const vendor = "aws"

// metrics are the probe's own families: what Describe sends. Per-device
// figures are in the shared accelerator families.
var metrics series.Set

// coreLabels name one NeuronCore: its device, its index on the device.
var coreLabels = []string{"vendor", "device", "core", "uuid", "model"}

var (
	coreUtilDesc = metrics.Plain("orb8_accelerator_core_utilization_ratio",
		"Share of the last poll interval the NeuronCore was executing (the Neuron driver's nc_time_in_use).", coreLabels...)
	coreMemDesc = metrics.Plain("orb8_accelerator_core_memory_used_bytes",
		"Device memory the Neuron runtime holds for the NeuronCore, all categories (the Neuron driver's device_mem counters).", coreLabels...)
	driverDesc = metrics.Plain("orb8_neuron_driver_info",
		"1, labelled with the Neuron driver's version (empty: unknown) and the sysfs layout read (documented: before 2.31; by_name: 2.31 on).", "version", "layout")
)

func gauge(d *prometheus.Desc, v float64, labels ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, labels...)
}
