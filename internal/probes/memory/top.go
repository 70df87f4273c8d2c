package memory

import (
	"bytes"
	"cmp"
	"errors"
	"fmt"
	"slices"
	"sync"

	"github.com/cilium/ebpf/link"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
)

// Allocator is one process's memory allocation activity.
type Allocator struct {
	PID  uint32 `json:"pid"`
	Comm string `json:"comm"`
	// PageFaults is every fault of the process's threads since it started.
	PageFaults uint64 `json:"pageFaults"`
	// PagesAllocated, since the probe started, is 0 unless page allocation
	// tracking is on.
	PagesAllocated uint64 `json:"pagesAllocated"`
}

// WorkloadAllocators are the top allocating processes of one workload.
type WorkloadAllocators struct {
	Workload  cgroup.Workload `json:"workload"`
	Processes []Allocator     `json:"processes"`
}

// allocatorList runs the iterator that lists the processes that allocated.
type allocatorList struct {
	mu   sync.Mutex
	iter *link.Iter
	buf  bytes.Buffer
}

// TopAllocators returns, for every workload with allocating processes, its
// n processes that allocated most: by pages allocated when page allocation
// tracking is on, else by page faults (a first touch of anonymous memory is
// a fault). It runs a task iterator over the in-kernel per-process counts:
// call it on demand (API, UI), not per scrape. Processes are not metric
// labels: pids are unbounded.
func (p *Probe) TopAllocators(n int) ([]WorkloadAllocators, error) {
	if p.list == nil {
		return nil, errors.New("memory probe: top allocators unavailable")
	}
	p.list.mu.Lock()
	defer p.list.mu.Unlock()
	records, err := probe.IterRecords[memoryProcRecord](p.list.iter, &p.list.buf)
	if err != nil {
		return nil, fmt.Errorf("top allocators: %w", err)
	}
	// One record per thread: a process's are summed, in its leader's cgroup
	// (the only record with a comm), else its first thread's.
	type process struct {
		Allocator
		cgroup uint64
	}
	procs := map[uint32]*process{}
	for _, r := range records {
		pr := procs[r.Tgid]
		if pr == nil {
			pr = &process{Allocator: Allocator{PID: r.Tgid}, cgroup: r.CgroupId}
			procs[r.Tgid] = pr
		}
		pr.PageFaults += r.PageFaults
		pr.PagesAllocated += r.PagesAllocated
		if comm := probe.CString(r.Comm[:]); comm != "" {
			pr.Comm, pr.cgroup = comm, r.CgroupId
		}
	}
	byID := map[uint64][]Allocator{}
	for _, pr := range procs {
		byID[pr.cgroup] = append(byID[pr.cgroup], pr.Allocator)
	}
	byPages := p.allocLink != nil
	out := make([]WorkloadAllocators, 0, len(byID))
	for id, procs := range byID {
		w, ok := p.env.Resolver.Visible(id)
		if !ok {
			continue
		}
		slices.SortFunc(procs, func(a, b Allocator) int {
			if byPages && a.PagesAllocated != b.PagesAllocated {
				return cmp.Compare(b.PagesAllocated, a.PagesAllocated)
			}
			return cmp.Or(cmp.Compare(b.PageFaults, a.PageFaults), cmp.Compare(a.PID, b.PID))
		})
		out = append(out, WorkloadAllocators{Workload: w, Processes: procs[:min(n, len(procs))]})
	}
	slices.SortFunc(out, func(a, b WorkloadAllocators) int { return cmp.Compare(a.Workload.Path, b.Workload.Path) })
	return out, nil
}
