package probe

import "github.com/orb8/orb8/internal/cgroup"

// WorkloadOfPID names the workload of a process, by its pid in the procfs
// mounted at proc, through its cgroup id (PidCgroup): for probes that
// learn of processes outside the kernel (a vendor library, a process's own
// endpoint). False when that fails or the agent's filters hide the
// workload. The workload's ID is
// cleared: such series are per workload, like the BPF probes' folded ones.
func (e Env) WorkloadOfPID(proc string, pid uint32) (cgroup.Workload, bool) {
	id, ok := PidCgroup(proc, e.CgroupRoot, pid)
	if !ok {
		return cgroup.Workload{}, false
	}
	w, ok := e.Resolver.Visible(id)
	w.ID = 0
	return w, ok
}
