package probe

import (
	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
)

// WorkloadDesc describes a per-workload series: the workload labels, then extra.
func WorkloadDesc(name, help string, extra ...string) *prometheus.Desc {
	return prometheus.NewDesc(name, help, append(append([]string{}, cgroup.LabelNames...), extra...), nil)
}

// WorkloadMetric builds one sample of a WorkloadDesc series.
func WorkloadMetric(d *prometheus.Desc, t prometheus.ValueType, v float64, w cgroup.Workload, extra ...string) prometheus.Metric {
	return prometheus.MustNewConstMetric(d, t, v, append(w.LabelValues(), extra...)...)
}

// Forgetter is implemented by probes that keep per-cgroup state in the kernel;
// the agent calls Forget for cgroups gone longer than the grace period.
type Forgetter interface {
	Forget(cgroupIDs []uint64)
}

// CollectPerCPU reads a per-CPU hash map keyed by cgroup id at scrape time:
// it sums each key's per-CPU values with add, folds cgroups that resolve to
// the same workload labels (a cgroup recreated under the same path has a new
// id), and calls emit once per workload.
func CollectPerCPU[V any](m *ebpf.Map, r Resolver, add func(dst, src *V), emit func(w cgroup.Workload, v *V)) error {
	var (
		key    uint64
		perCPU []V
	)
	folded := make(map[cgroup.Workload]*V)
	it := m.Iterate()
	for it.Next(&key, &perCPU) {
		w := r.Lookup(key)
		w.ID = 0
		acc, ok := folded[w]
		if !ok {
			acc = new(V)
			folded[w] = acc
		}
		for i := range perCPU {
			add(acc, &perCPU[i])
		}
	}
	for w, v := range folded {
		emit(w, v)
	}
	return it.Err()
}

// DeleteKeys removes cgroup ids from a map keyed by them; missing keys are fine.
func DeleteKeys(m *ebpf.Map, cgroupIDs []uint64) {
	for _, id := range cgroupIDs {
		_ = m.Delete(id)
	}
}
