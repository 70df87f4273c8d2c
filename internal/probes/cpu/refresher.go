package cpu

import (
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
)

// figures are one cgroup's CPU counters at the last refresh, in seconds
// (pressure in µs, as the kernel counts it).
type figures struct {
	w           cgroup.Workload
	labels      *series.WorkloadLabels // w's
	usage       float64
	throttled   float64
	hasThrottle bool
	pressure    cgroup.Pressure
	hasPressure bool
}

// tracked is a cgroup the refresher reads. Its files stay open while the
// budget of held files allows (cgroup.File). Where the walk reads it, only
// a v1 throttling file is opened, and the others once the walk misses it.
type tracked struct {
	id       uint64 // in the cgroup2 tree
	w        cgroup.Workload
	labels   *series.WorkloadLabels // w's, made again when w changes
	visible  bool                   // not hidden by the agent's filters
	path     string                 // relative to the cgroup root
	usage    *cgroup.File           // nil until opened
	throttle *cgroup.File           // nil without a throttling file; == usage when one file has both
	pressure *cgroup.File           // nil without cpu.pressure
}

// closeWalked closes the files the walk reads for the cgroup, which a
// round without it opened: they count against the budget of held files.
func (c *tracked) closeWalked() {
	if c.usage != nil {
		if c.throttle == c.usage {
			c.throttle = nil
		}
		c.usage.Close()
		c.usage = nil
	}
	if c.pressure != nil {
		c.pressure.Close()
		c.pressure = nil
	}
}

func (c *tracked) close() {
	if c.usage != nil {
		c.usage.Close()
	}
	if c.throttle != nil && c.throttle != c.usage {
		c.throttle.Close()
	}
	if c.pressure != nil {
		c.pressure.Close()
	}
}

// refresher reads every cgroup's CPU counters at a fixed interval into a
// table that scrapes read: a scrape never touches cgroupfs.
type refresher struct {
	src      sources
	v2Root   string
	resolver probe.Resolver

	table cgroup.Table[figures]

	// Owned by the refreshing goroutine.
	walker  *probe.CgroupWalk[cpuCgroupFigures] // nil: each cgroup's files are read
	cgroups map[uint64]*tracked
	order   *series.Ordered[tracked] // cgroups in CompareWorkloads order
	rounds  int
	buf     []byte
}

func newRefresher(src sources, v2Root string, r probe.Resolver) *refresher {
	return &refresher{
		src: src, v2Root: v2Root, resolver: r, cgroups: map[uint64]*tracked{}, buf: make([]byte, 4096),
		order: series.NewOrdered(func(c *tracked) *cgroup.Workload { return &c.w }),
	}
}

// refresh reads the counters of every tracked cgroup, rescanning first
// every rescanEvery rounds.
func (r *refresher) refresh(time.Time) {
	if r.rounds%rescanEvery == 0 {
		r.rescan()
	}
	r.rounds++
	if r.walker != nil {
		_ = r.walker.Walk() // on an error, the files; Degraded says why
	}
	table := make([]figures, 0, len(r.cgroups))
	for _, c := range r.order.Rows(r.cgroups) {
		if !c.visible { // filtered out by the agent's namespace/selector filters
			continue
		}
		f, err := r.read(c.id, c)
		if err != nil { // removed (ENODEV)
			c.close()
			delete(r.cgroups, c.id)
			continue
		}
		table = append(table, f)
	}
	r.table.Set(table)
}

// read reads one cgroup's counters, from the walk where it has them, else
// from its files; an error means the cgroup is gone.
func (r *refresher) read(id uint64, c *tracked) (figures, error) {
	if g, ok := r.walker.Figures(id); ok {
		c.closeWalked()
		return r.walked(c, g), nil
	}
	f := figures{w: c.w, labels: c.labels}
	if c.usage == nil && !r.open(c) {
		return f, unix.ENOENT
	}
	b, err := c.usage.Read(r.buf)
	if err != nil {
		return f, err
	}
	var ok bool
	if f.usage, ok = r.src.usage.value(b); !ok {
		return f, unix.ENODATA
	}
	if c.throttle != nil {
		if c.throttle != c.usage {
			if b, err = c.throttle.Read(r.buf); err != nil {
				b = nil // the v1 twin went first: usage alone this round
			}
		}
		f.throttled, f.hasThrottle = r.src.throttle.value(b)
	}
	if c.pressure != nil {
		if b, err = c.pressure.Read(r.buf); err == nil {
			f.pressure, f.hasPressure = cgroup.ParsePressure(b)
		}
	}
	return f, nil
}

// walked are a cgroup's counters from the walk's figures g, in the files'
// units: whole microseconds, as cpu.stat and cpu.pressure print them, so
// that a counter read from the files the next round never goes back.
func (r *refresher) walked(c *tracked, g *cpuCgroupFigures) figures {
	f := figures{w: c.w, labels: c.labels, usage: microseconds(g.UsageNs)}
	if r.src.pressure && g.Flags&uint32(cpuFigureFlagHAS_PRESSURE) != 0 {
		f.pressure = cgroup.Pressure{Some: g.SomeNs / 1000, Full: g.FullNs / 1000, HasFull: true}
		f.hasPressure = true
	}
	switch {
	case r.src.throttleWithUsage():
		if g.Flags&uint32(cpuFigureFlagHAS_THROTTLE) != 0 {
			f.throttled, f.hasThrottle = microseconds(g.ThrottledNs), true
		}
	case c.throttle != nil: // a v1 twin's
		if b, err := c.throttle.Read(r.buf); err == nil {
			f.throttled, f.hasThrottle = r.src.throttle.value(b)
		}
	}
	return f
}

// microseconds is ns in seconds, truncated to whole microseconds.
func microseconds(ns uint64) float64 { return float64(ns/1000) * 1e-6 }

// rescan lists the cgroups (cgroup.Retrack): it tracks new
// cgroups, forgets removed ones, and re-reads every workload identity.
func (r *refresher) rescan() {
	known, _ := r.resolver.(cgroup.Known) // nil: Retrack walks the tree
	cgroup.Retrack(r.v2Root, known, r.cgroups, r.track, (*tracked).close)
}

// track starts or updates tracking one cgroup; false when it has no CPU
// usage file (a cgroup2 cgroup without a v1 twin on a host whose cgroup2
// tree keeps no usage: its processes' v1 cgroup may hold others, so it is
// not borrowed). Where the walk reads usage, only a v1 throttling file is
// opened now.
func (r *refresher) track(id uint64, path string) bool {
	c := r.cgroups[id]
	if c == nil {
		c = &tracked{id: id, path: path}
		if r.walker == nil {
			if !r.open(c) {
				return false
			}
		} else if r.src.hasThrottle && !r.src.throttleWithUsage() {
			c.throttle, _ = cgroup.OpenFile(r.src.throttle.path(path))
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
	return true
}

// open opens the cgroup's files; false without a usage file.
func (r *refresher) open(c *tracked) bool {
	usage, err := cgroup.OpenFile(r.src.usage.path(c.path))
	if err != nil {
		return false
	}
	c.usage = usage
	if r.src.hasThrottle && c.throttle == nil {
		if tp := r.src.throttle.path(c.path); tp == r.src.usage.path(c.path) {
			c.throttle = usage
		} else if f, err := cgroup.OpenFile(tp); err == nil {
			c.throttle = f
		}
	}
	if r.src.pressure {
		if f, err := cgroup.OpenFile(filepath.Join(r.v2Root, c.path, pressureFile)); err == nil {
			c.pressure = f
		}
	}
	return true
}

// snapshot returns the table of the last refresh; callers must not modify it.
func (r *refresher) snapshot() []figures { return r.table.Rows() }

// close closes every file the refresher holds open.
func (r *refresher) close() {
	cgroup.Untrack(r.cgroups, (*tracked).close)
	r.walker.Close()
}
