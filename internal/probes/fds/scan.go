package fds

import (
	"bytes"
	"fmt"
	"sync"
	"time"

	"github.com/cilium/ebpf/link"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/trend"
)

// workloadFDs are one workload's file descriptors at the last scan.
type workloadFDs struct {
	w    cgroup.Workload
	open uint64
	// limit is the soft RLIMIT_NOFILE of the workload's process that is
	// nearest to its own limit (the highest open/limit share).
	limit uint64
	leak  bool
}

// cgroupFDs accumulates one cgroup's records during a scan.
type cgroupFDs struct {
	open, nearestOpen, nearestLimit uint64
}

// add folds one process in, keeping the one nearest to its limit.
func (c *cgroupFDs) add(open, limit uint64) {
	c.open += open
	if c.nearestLimit == 0 || share(open, limit) > share(c.nearestOpen, c.nearestLimit) {
		c.nearestOpen, c.nearestLimit = open, limit
	}
}

func share(open, limit uint64) float64 {
	if limit == 0 {
		return 1
	}
	return float64(open) / float64(limit)
}

// scanner runs the fd counting iterator at a fixed interval and keeps a
// per-workload table that scrapes read.
type scanner struct {
	iter     *link.Iter
	resolver probe.Resolver
	window   int
	rule     leakRule

	mu    sync.RWMutex
	table []workloadFDs

	// Owned by the scanning goroutine.
	trends map[uint64]*trend.Window
	out    bytes.Buffer
}

// scan runs the iterator once and rebuilds the table.
func (s *scanner) scan(now time.Time) error {
	records, err := probe.IterRecords[fdsFdRecord](s.iter, &s.out)
	if err != nil {
		return fmt.Errorf("fd scan: %w", err)
	}
	byCgroup := sumRecords(records)
	table := make([]workloadFDs, 0, len(byCgroup))
	for id, c := range byCgroup {
		w := s.trends[id]
		if w == nil {
			w = trend.NewWindow(s.window)
			s.trends[id] = w
		}
		w.Add(now, float64(c.open))
		if wl, ok := s.resolver.Visible(id); ok {
			wl.ID = 0
			table = append(table, workloadFDs{w: wl, open: c.open, limit: c.nearestLimit, leak: s.rule.leaking(w)})
		}
	}
	for id := range s.trends {
		if _, ok := byCgroup[id]; !ok {
			delete(s.trends, id)
		}
	}
	series.SortByWorkload(table, func(f *workloadFDs) *cgroup.Workload { return &f.w })
	s.mu.Lock()
	s.table = table
	s.mu.Unlock()
	return nil
}

// sumRecords folds the iterator's per-process records by cgroup id.
func sumRecords(records []fdsFdRecord) map[uint64]*cgroupFDs {
	out := map[uint64]*cgroupFDs{}
	for _, r := range records {
		c := out[r.CgroupId]
		if c == nil {
			c = &cgroupFDs{}
			out[r.CgroupId] = c
		}
		c.add(uint64(r.OpenFds), r.Limit)
	}
	return out
}

// snapshot returns the table of the last scan; callers must not modify it.
func (s *scanner) snapshot() []workloadFDs {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.table
}
