package memory

import (
	"cmp"
	"errors"
	"slices"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
)

// Allocator is one process's memory allocation activity since the probe
// first saw it allocate.
type Allocator struct {
	PID        uint32 `json:"pid"`
	Comm       string `json:"comm"`
	PageFaults uint64 `json:"pageFaults"`
	// PagesAllocated is 0 unless page allocation tracking is on.
	PagesAllocated uint64 `json:"pagesAllocated"`
}

// WorkloadAllocators are the top allocating processes of one workload.
type WorkloadAllocators struct {
	Workload  cgroup.Workload `json:"workload"`
	Processes []Allocator     `json:"processes"`
}

// TopAllocators returns, for every workload with allocating processes, its
// n processes that allocated most: by pages allocated when page allocation
// tracking is on, else by page faults (a first touch of anonymous memory is
// a fault). It reads the in-kernel process table: call it on demand (API,
// UI), not per scrape. Processes are not labels: pids are unbounded.
func (p *Probe) TopAllocators(n int) ([]WorkloadAllocators, error) {
	if p.objs == nil {
		return nil, errors.New("memory probe not running")
	}
	byID := map[uint64][]Allocator{}
	var (
		pid uint32
		pm  memoryProcMem
	)
	it := p.objs.Maps["procs"].Iterate()
	for it.Next(&pid, &pm) {
		byID[pm.CgroupId] = append(byID[pm.CgroupId], Allocator{
			PID: pid, Comm: probe.CString(pm.Comm[:]), PageFaults: pm.PageFaults, PagesAllocated: pm.PagesAllocated,
		})
	}
	if err := it.Err(); err != nil {
		return nil, err
	}
	byPages := p.allocLink != nil
	out := make([]WorkloadAllocators, 0, len(byID))
	for id, procs := range byID {
		slices.SortFunc(procs, func(a, b Allocator) int {
			if byPages && a.PagesAllocated != b.PagesAllocated {
				return cmp.Compare(b.PagesAllocated, a.PagesAllocated)
			}
			return cmp.Or(cmp.Compare(b.PageFaults, a.PageFaults), cmp.Compare(a.PID, b.PID))
		})
		w := p.env.Resolver.Lookup(id)
		out = append(out, WorkloadAllocators{Workload: w, Processes: procs[:min(n, len(procs))]})
	}
	slices.SortFunc(out, func(a, b WorkloadAllocators) int { return cmp.Compare(a.Workload.Path, b.Workload.Path) })
	return out, nil
}
