package memory

import (
	"path/filepath"
	"time"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/trend"
)

// rescanEvery is how many refreshes pass between rescans (which find new
// and removed cgroups and re-read limits).
const rescanEvery = 10

// figures are one cgroup's memory figures at the last refresh.
type figures struct {
	w       cgroup.Workload
	labels  *series.WorkloadLabels // w's
	usage   uint64
	limit   uint64
	limited bool
	eta     float64 // seconds, valid when hasETA
	hasETA  bool
}

// tracked is a cgroup the refresher reads. Its usage file (and memory.stat
// when limited) stay open while the budget of held files allows
// (cgroup.File): re-reading an open cgroup file from offset 0 costs a
// seventh of opening, reading and closing it.
type tracked struct {
	w       cgroup.Workload
	labels  *series.WorkloadLabels // w's, made again when w changes
	visible bool                   // reported: the agent's filters do not hide it
	usage   *cgroup.File
	stat    *cgroup.File // nil unless limited
	limit   uint64
	limited bool
	trend   *trend.Window // working set samples while limited
}

func (c *tracked) close() {
	c.usage.Close()
	if c.stat != nil {
		c.stat.Close()
	}
}

// refresher reads every cgroup's memory files at a fixed interval into a
// table that scrapes read: a scrape never touches cgroupfs.
type refresher struct {
	files    hierarchy
	v2Root   string
	resolver probe.Resolver
	window   int
	rule     etaRule

	table cgroup.Table[figures]

	// Owned by the refreshing goroutine.
	cgroups map[uint64]*tracked
	rounds  int
	buf     []byte
}

func newRefresher(files hierarchy, v2Root string, r probe.Resolver, window int) *refresher {
	return &refresher{
		files: files, v2Root: v2Root, resolver: r, window: window, rule: defaultETA,
		cgroups: map[uint64]*tracked{}, buf: make([]byte, 16*1024),
	}
}

// refresh reads the usage of every tracked cgroup, rescanning first
// every rescanEvery rounds.
func (r *refresher) refresh(now time.Time) {
	if r.rounds%rescanEvery == 0 {
		r.rescan()
	}
	r.rounds++
	table := make([]figures, 0, len(r.cgroups))
	for id, c := range r.cgroups {
		usage, err := r.readBytes(c.usage)
		if err != nil { // removed (ENODEV)
			c.close()
			delete(r.cgroups, id)
			continue
		}
		f := figures{w: c.w, labels: c.labels, usage: usage, limit: c.limit, limited: c.limited}
		if c.limited {
			f.eta, f.hasETA = r.predict(c, now, usage)
		}
		if c.visible {
			table = append(table, f)
		}
	}
	r.table.Set(table)
}

// rescan lists the cgroups (cgroup.Retrack): it tracks new
// cgroups, forgets removed ones, and re-reads every limit and workload
// identity.
func (r *refresher) rescan() {
	known, _ := r.resolver.(cgroup.Known) // nil: Retrack walks the tree
	cgroup.Retrack(r.v2Root, known, r.cgroups, func(id uint64, path string) bool {
		return r.track(id, filepath.Join(r.files.root, path))
	}, (*tracked).close)
}

// track starts or updates tracking one cgroup; false when it has no memory
// figures (no v1 memory cgroup of that path, no memory controller there).
func (r *refresher) track(id uint64, dir string) bool {
	c := r.cgroups[id]
	if c == nil {
		usage, err := cgroup.OpenFile(filepath.Join(dir, r.files.usage))
		if err != nil {
			return false
		}
		c = &tracked{usage: usage}
		r.cgroups[id] = c
	}
	c.w, c.visible = r.resolver.Visible(id)
	c.w.ID = 0
	c.labels = series.Relabel(c.labels, c.w)
	c.limit, c.limited = 0, false
	if b, err := cgroup.ReadInto(filepath.Join(dir, r.files.limit), r.buf); err == nil {
		c.limit, c.limited, _ = parseLimit(b)
	}
	switch {
	case c.limited && c.stat == nil:
		if f, err := cgroup.OpenFile(filepath.Join(dir, "memory.stat")); err == nil {
			c.stat = f
		}
		c.trend = trend.NewWindow(r.window)
	case !c.limited && c.stat != nil:
		c.stat.Close()
		c.stat, c.trend = nil, nil
	}
	return true
}

// predict adds a working set sample of a limited cgroup and returns its OOM ETA.
func (r *refresher) predict(c *tracked, now time.Time, usage uint64) (float64, bool) {
	// The working set (usage less inactive page cache, as the kubelet
	// counts it) is what an OOM kill is about: inactive cache goes first.
	ws := usage
	if c.stat != nil {
		if b, err := c.stat.Read(r.buf); err == nil {
			if inactive, ok := cgroup.StatValue(b, r.files.inactiveFile); ok && inactive < ws {
				ws -= inactive
			}
		}
	}
	c.trend.Add(now, float64(ws))
	return r.rule.predict(c.trend, ws, c.limit)
}

// readBytes re-reads an open counter file from its start.
func (r *refresher) readBytes(f *cgroup.File) (uint64, error) {
	b, err := f.Read(r.buf)
	if err != nil {
		return 0, err
	}
	return cgroup.ParseCount(b)
}

// snapshot returns the table of the last refresh; callers must not modify it.
func (r *refresher) snapshot() []figures { return r.table.Rows() }

// close closes every file the refresher holds open.
func (r *refresher) close() { cgroup.Untrack(r.cgroups, (*tracked).close) }
