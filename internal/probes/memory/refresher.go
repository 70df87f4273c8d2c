package memory

import (
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/trend"
)

// Refreshes (every second) read the limited cgroups, whose working set the
// OOM ETA follows; every walkEvery-th walks the tree for every cgroup's
// usage and limit, and every rescanEvery-th (a walk's round, whose walk it
// reads) rescans, which finds new and removed cgroups and re-reads the
// limits no walk reads.
const (
	walkEvery   = 5
	rescanEvery = 2 * walkEvery
)

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

// tracked is a cgroup the refresher reads: from the walk where it has the
// cgroup, else from its usage file. That file (and memory.stat when
// limited) stay open while the budget of held files allows (cgroup.File):
// re-reading an open cgroup file from offset 0 costs a seventh of opening,
// reading and closing it.
type tracked struct {
	id      uint64 // in the cgroup2 tree
	w       cgroup.Workload
	labels  *series.WorkloadLabels // w's, made again when w changes
	visible bool                   // reported: the agent's filters do not hide it
	path    string                 // relative to the hierarchy's root
	walkID  uint64                 // its id in the walked hierarchy (v1: its twin's)
	walked  bool                   // the last walk read it
	// usage is nil while walks read it, unless it is limited (read between
	// walks too).
	usage     *cgroup.File
	lastUsage uint64
	stat      *cgroup.File // nil unless limited
	limit     uint64
	limited   bool
	trend     *trend.Window // working set samples while limited
}

func (c *tracked) close() {
	if c.usage != nil {
		c.usage.Close()
	}
	if c.stat != nil {
		c.stat.Close()
	}
}

// refresher reads every cgroup's memory figures (one walk of the tree, or
// their files) at a fixed interval into a table that scrapes read: a
// scrape never touches cgroupfs.
type refresher struct {
	files    hierarchy
	v2Root   string
	resolver probe.Resolver
	window   int
	rule     etaRule

	table cgroup.Table[figures]

	// Owned by the refreshing goroutine.
	walk     *probe.CgroupWalk[memoryCgroupMemory] // nil: each cgroup's files are read
	pageSize uint64
	cgroups  map[uint64]*tracked
	order    *series.Ordered[tracked] // cgroups in CompareWorkloads order
	// noTwin holds the cgroup2 cgroups that had no v1 memory twin at the
	// last look, each with the walk's newest id then: until a whole walk
	// finds a newer cgroup, none of them has one, and none is looked up.
	noTwin, noTwinNext map[uint64]uint64
	rounds             int
	buf                []byte
}

func newRefresher(files hierarchy, v2Root string, r probe.Resolver, window int) *refresher {
	return &refresher{
		files: files, v2Root: v2Root, resolver: r, window: window, rule: defaultETA,
		pageSize: uint64(os.Getpagesize()), cgroups: map[uint64]*tracked{},
		order:  series.NewOrdered(func(c *tracked) *cgroup.Workload { return &c.w }),
		noTwin: map[uint64]uint64{}, noTwinNext: map[uint64]uint64{}, buf: make([]byte, 16*1024),
	}
}

// refresh reads the usage of every tracked cgroup (walking the tree every
// walkEvery rounds), rescanning first every rescanEvery rounds.
func (r *refresher) refresh(now time.Time) {
	walked := r.rounds%walkEvery == 0
	if walked {
		r.walkTree()
	}
	if r.rounds%rescanEvery == 0 {
		r.rescan()
	}
	r.rounds++
	table := make([]figures, 0, len(r.cgroups))
	for _, c := range r.order.Rows(r.cgroups) {
		usage, err := r.read(c, walked)
		if err != nil { // removed (ENODEV, ENOENT)
			c.close()
			delete(r.cgroups, c.id)
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

// walkTree runs the walk, if any; after one that failed it has no
// figures, and each cgroup's files are read (Degraded says why).
func (r *refresher) walkTree() {
	if r.walk != nil {
		_ = r.walk.Walk()
	}
}

// read reads a cgroup's usage. In a walk's round, from the walk where it
// has the cgroup, and its limit too; between walks, an unlimited cgroup the
// last walk read keeps that walk's usage. Else from its usage file, opened
// if need be and held (a limited cgroup between walks; past the walk's
// slots, a walk that failed, no walk). An error means the cgroup is gone.
func (r *refresher) read(c *tracked, walked bool) (uint64, error) {
	if walked {
		m, ok := r.fromWalk(c.walkID)
		c.walked = ok
		if ok {
			limit, limited := limitOfPages(m.MaxPages, r.pageSize)
			r.setLimit(c, limit, limited)
			if !c.limited && c.usage != nil { // it counts against the budget of held files
				c.usage.Close()
				c.usage = nil
			}
			c.lastUsage = m.UsagePages * r.pageSize
			return c.lastUsage, nil
		}
	} else if c.walked && !c.limited {
		return c.lastUsage, nil
	}
	if c.usage == nil {
		f, err := cgroup.OpenFile(filepath.Join(r.files.root, c.path, r.files.usage))
		if err != nil {
			return 0, err
		}
		c.usage = f
	}
	return r.readBytes(c.usage)
}

// rescan lists the cgroups (cgroup.Retrack): it tracks new cgroups,
// forgets removed ones, and re-reads every workload identity, and every
// limit the walk does not read.
func (r *refresher) rescan() {
	known, _ := r.resolver.(cgroup.Known) // nil: Retrack walks the tree
	cgroup.Retrack(r.v2Root, known, r.cgroups, r.track, (*tracked).close)
	// Cgroups removed since drop out.
	r.noTwin, r.noTwinNext = r.noTwinNext, r.noTwin
	clear(r.noTwinNext)
}

// track starts or updates tracking one cgroup; false when it has no memory
// figures (no v1 memory cgroup of that path, no memory controller there).
func (r *refresher) track(id uint64, path string) bool {
	c := r.cgroups[id]
	if c == nil {
		c = &tracked{id: id, path: path, walkID: id}
		if !r.startTracking(c, filepath.Join(r.files.root, path)) {
			return false
		}
		r.cgroups[id] = c
		r.order.Changed()
	}
	c.w, c.visible = r.resolver.Visible(id)
	c.w.ID = 0
	if labels := series.Relabel(c.labels, c.w); labels != c.labels {
		c.labels = labels
		r.order.Changed()
	}
	if _, ok := r.fromWalk(c.walkID); ok {
		return true // its limit is read at every walk
	}
	limit, limited := uint64(0), false
	if b, err := cgroup.ReadInto(filepath.Join(r.files.root, path, r.files.limit), r.buf); err == nil {
		limit, limited, _ = parseLimit(b)
	}
	r.setLimit(c, limit, limited)
	return true
}

// startTracking finds the figures of the new cgroup c: on cgroup v1, its
// twin's id in the walked hierarchy (not looked for again until a whole
// walk finds a cgroup newer than the last look: noTwin); the walk tells
// whether it has any, else (not in the walk: past its slots, made since, a
// walk that failed, no walk) its usage file, which is opened and held.
// False when it has none.
func (r *refresher) startTracking(c *tracked, dir string) bool {
	if r.walk != nil && r.files.root != r.v2Root {
		newest, complete := r.walk.Newest()
		if last, ok := r.noTwin[c.id]; ok && complete && newest <= last {
			r.noTwinNext[c.id] = last
			return false // no v1 cgroup made since the last look
		}
		var st unix.Stat_t
		if err := unix.Stat(dir, &st); err != nil {
			if complete {
				r.noTwinNext[c.id] = newest
			}
			return false // no v1 twin
		}
		c.walkID = st.Ino
	}
	if m, ok := r.walk.Figures(c.walkID); ok {
		return m.HasMemory != 0
	}
	usage, err := cgroup.OpenFile(filepath.Join(dir, r.files.usage))
	c.usage = usage
	return err == nil
}

// fromWalk is the memory figures of the cgroup of walkID in the last walk,
// if it has them (none after a walk that failed).
func (r *refresher) fromWalk(walkID uint64) (*memoryCgroupMemory, bool) {
	m, ok := r.walk.Figures(walkID)
	return m, ok && m.HasMemory != 0
}

// setLimit sets a cgroup's limit, and starts or ends what a limited one
// keeps: its memory.stat, open, and the trend of its working set.
func (r *refresher) setLimit(c *tracked, limit uint64, limited bool) {
	c.limit, c.limited = limit, limited
	switch {
	case c.limited && c.trend == nil:
		if f, err := cgroup.OpenFile(filepath.Join(r.files.root, c.path, "memory.stat")); err == nil {
			c.stat = f
		}
		c.trend = trend.NewWindow(r.window)
	case !c.limited && c.trend != nil:
		if c.stat != nil {
			c.stat.Close()
		}
		c.stat, c.trend = nil, nil
	}
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
func (r *refresher) close() {
	cgroup.Untrack(r.cgroups, (*tracked).close)
	r.walk.Close()
}
