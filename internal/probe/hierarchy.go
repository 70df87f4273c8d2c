package probe

import (
	"fmt"
	"sync/atomic"

	"github.com/cilium/ebpf"
)

// cgroupV1 says whether workload cgroup ids come from the cgroup v1 memory
// hierarchy (orb8_cgroup_v1 in orb8.h). It is a property of the host, set
// once before any probe loads, so it is process-wide rather than an option
// every probe family passes along.
var cgroupV1 atomic.Bool

// UseCgroupV1 makes every collection loaded from now on name workloads by
// their cgroup v1 memory cgroup instead of their unified cgroup.
func UseCgroupV1(v1 bool) { cgroupV1.Store(v1) }

// CgroupV1 reports whether workloads are named by their v1 memory cgroup.
func CgroupV1() bool { return cgroupV1.Load() }

// setHierarchy sets orb8_cgroup_v1 in a collection whose programs read it.
func setHierarchy(spec *ebpf.CollectionSpec) error {
	v := spec.Variables["orb8_cgroup_v1"]
	if v == nil {
		return nil
	}
	if err := v.Set(cgroupV1.Load()); err != nil {
		return fmt.Errorf("set orb8_cgroup_v1: %w", err)
	}
	return nil
}
