package gpu

import (
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/accelerator"
)

// AllocatedSeries are the orb8_pod_accelerator_allocated series of a
// vendor's allocations, one per container and device: device maps an
// allocation's device ID to the device label (the vendor's device index),
// false for an ID it does not know (another node's device, a replica it
// cannot place). Devices named twice in a container (two NeuronCores of
// one device) give one series; a label that is not UTF-8 is skipped.
func AllocatedSeries(allocs []Allocation, vendor string, device func(resource, id string) (string, bool)) []prometheus.Metric {
	var out []prometheus.Metric
	seen := map[[4]string]bool{}
	for _, a := range allocs {
		for _, id := range a.Devices {
			dev, ok := device(a.Resource, id)
			k := [4]string{a.Namespace, a.Pod, a.Container, dev}
			if !ok || seen[k] || !validUTF8(k[:]) {
				continue
			}
			seen[k] = true
			out = append(out, prometheus.MustNewConstMetric(accelerator.AllocatedDesc, prometheus.GaugeValue, 1, a.Namespace, a.Pod, a.Container, vendor, dev))
		}
	}
	return out
}

// DeviceIDAsIs is the device mapping of a vendor whose device plugin IDs
// are the device labels already (TPU chips).
func DeviceIDAsIs(_, id string) (string, bool) { return id, true }

func validUTF8(values []string) bool {
	for _, v := range values {
		if !utf8.ValidString(v) {
			return false
		}
	}
	return true
}
