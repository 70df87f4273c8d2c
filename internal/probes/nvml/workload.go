//go:build cgo

package nvml

import (
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
)

// workloadOf names the workload of a host pid through its cgroup; false
// when that fails or the agent's filters hide the workload.
func (p *Probe) workloadOf(pid uint32) (cgroup.Workload, bool) {
	id, ok := probe.PidCgroup(p.proc, p.env.CgroupRoot, pid)
	if !ok {
		return cgroup.Workload{}, false
	}
	w, ok := p.env.Resolver.Visible(id)
	w.ID = 0 // series are per workload, like the BPF probes' folded ones
	return w, ok
}
