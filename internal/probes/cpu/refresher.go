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
// budget of held files allows (cgroup.File).
type tracked struct {
	w        cgroup.Workload
	labels   *series.WorkloadLabels // w's, made again when w changes
	visible  bool                   // not hidden by the agent's filters
	usage    *cgroup.File
	throttle *cgroup.File // nil without a throttling file; == usage when one file has both
	pressure *cgroup.File // nil without cpu.pressure
}

func (c *tracked) close() {
	c.usage.Close()
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
	cgroups map[uint64]*tracked
	rounds  int
	buf     []byte
}

func newRefresher(src sources, v2Root string, r probe.Resolver) *refresher {
	return &refresher{src: src, v2Root: v2Root, resolver: r, cgroups: map[uint64]*tracked{}, buf: make([]byte, 4096)}
}

// refresh reads the counters of every tracked cgroup, walking the tree first
// every rescanEvery rounds.
func (r *refresher) refresh(time.Time) {
	if r.rounds%rescanEvery == 0 {
		r.rescan(r.rounds / rescanEvery)
	}
	r.rounds++
	table := make([]figures, 0, len(r.cgroups))
	for id, c := range r.cgroups {
		if !c.visible { // filtered out by the agent's namespace/selector filters
			continue
		}
		f, err := r.read(c)
		if err != nil { // removed (ENODEV)
			c.close()
			delete(r.cgroups, id)
			continue
		}
		table = append(table, f)
	}
	series.SortByWorkload(table, func(f *figures) *cgroup.Workload { return &f.w })
	r.table.Set(table)
}

// read reads one cgroup's counters; an error means the cgroup is gone.
func (r *refresher) read(c *tracked) (figures, error) {
	f := figures{w: c.w, labels: c.labels}
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

// rescan number n lists the cgroups (cgroup.Retrack): it tracks new
// cgroups, forgets removed ones, and re-reads every workload identity.
func (r *refresher) rescan(n int) {
	cgroup.Retrack(r.v2Root, cgroup.KnownOrWalk(r.resolver, n), r.cgroups, r.track, (*tracked).close)
}

// track starts or updates tracking one cgroup; false when it has no CPU
// usage file (a cgroup2 cgroup without a v1 twin on a host whose cgroup2
// tree keeps no usage: its processes' v1 cgroup may hold others, so it is
// not borrowed).
func (r *refresher) track(id uint64, path string) bool {
	c := r.cgroups[id]
	if c == nil {
		usage, err := cgroup.OpenFile(r.src.usage.path(path))
		if err != nil {
			return false
		}
		c = &tracked{usage: usage}
		if r.src.hasThrottle {
			if tp := r.src.throttle.path(path); tp == r.src.usage.path(path) {
				c.throttle = usage
			} else if f, err := cgroup.OpenFile(tp); err == nil {
				c.throttle = f
			}
		}
		if r.src.pressure {
			if f, err := cgroup.OpenFile(filepath.Join(r.v2Root, path, pressureFile)); err == nil {
				c.pressure = f
			}
		}
		r.cgroups[id] = c
	}
	c.w, c.visible = r.resolver.Visible(id)
	c.w.ID = 0
	c.labels = series.Relabel(c.labels, c.w)
	return true
}

// snapshot returns the table of the last refresh; callers must not modify it.
func (r *refresher) snapshot() []figures { return r.table.Rows() }

// close closes every file the refresher holds open.
func (r *refresher) close() { cgroup.Untrack(r.cgroups, (*tracked).close) }
