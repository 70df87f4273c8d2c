package series

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// ErrUseRegistry says a collection holds what the text exposition does not
// reproduce as a registry would (a per-workload metric also sent as a
// client_golang metric, two series with the same labels, one metric with two
// types): serve that scrape through the registry, which reports it.
var ErrUseRegistry = errors.New("collection needs the registry's checks")

// Exposition is one collection of a set of collectors for a text scrape.
// Per-workload series (Metric and Histogram samples, and rows) are kept as
// points of their family and written as text directly: through a registry
// and the text encoder
// each cost ~4.5 us and 21 allocations, and 5,000 workloads make tens of
// thousands. Every other metric goes through a prometheus.Registry, with
// all its checks.
type Exposition struct {
	workload []*collectedFamily // by name
	// Rest is what the registry gathered, by name.
	Rest []*dto.MetricFamily
	// label is what AddLabel gives every per-workload series; nil if none.
	label *constLabel
}

// collectedFamily is one per-workload metric's series, in registry order
// once gathered.
type collectedFamily struct {
	d         *Desc
	kind      prometheus.ValueType // unused for histograms
	histogram bool
	mixed     bool // it got series of two types
	points    []point
}

// Gather collects every collector once. Like Registry.Gather it returns
// what it could gather with the error, if any; with ErrUseRegistry, nothing.
func Gather(collectors []prometheus.Collector) (*Exposition, error) {
	reg := prometheus.NewRegistry()
	diverters := make([]*diverter, len(collectors))
	for i, c := range collectors {
		diverters[i] = newDiverter(c)
		if err := reg.Register(diverters[i]); err != nil {
			return nil, fmt.Errorf("%w: %w", ErrUseRegistry, err)
		}
	}
	rest, err := reg.Gather()
	e := &Exposition{Rest: rest}
	byName := map[string]bool{}
	for _, dv := range diverters {
		for _, parts := range dv.families {
			cf := parts.merged()
			if cf.mixed {
				return nil, fmt.Errorf("%w: %s has series of two types", ErrUseRegistry, cf.d.name)
			}
			if len(cf.points) == 0 {
				continue
			}
			if byName[cf.d.name] {
				return nil, fmt.Errorf("%w: %s has two descriptors", ErrUseRegistry, cf.d.name)
			}
			byName[cf.d.name] = true
			cf.d.lastPoints.Store(int64(len(cf.points)))
			e.workload = append(e.workload, cf)
		}
	}
	slices.SortFunc(e.workload, func(a, b *collectedFamily) int { return strings.Compare(a.d.name, b.d.name) })
	for _, cf := range e.workload {
		if _, found := slices.BinarySearchFunc(rest, cf.d.name, func(f *dto.MetricFamily, name string) int {
			return strings.Compare(f.GetName(), name)
		}); found {
			return nil, fmt.Errorf("%w: %s also has client_golang metrics", ErrUseRegistry, cf.d.name)
		}
		if !sortedUnique(cf.d, cf.points) {
			sortPoints(cf.d, cf.points)
			for i := 1; i < len(cf.points); i++ {
				if cf.d.comparePoints(cf.points[i-1], cf.points[i]) == 0 {
					return nil, fmt.Errorf("%w: %s has two series with the same labels", ErrUseRegistry, cf.d.name)
				}
			}
		}
	}
	return e, err
}

// sortedUnique reports whether points of d are in registry order with no
// two alike: one pass for collectors that emit in CompareWorkloads order.
func sortedUnique(d *Desc, points []point) bool {
	for i := 1; i < len(points); i++ {
		if d.comparePoints(points[i-1], points[i]) >= 0 {
			return false
		}
	}
	return true
}

// sortPoints sorts points of d in registry order. Probes send workloads in
// label order, but a row's own series often are not (tx before rx, a
// state machine's states in their enum's order): those points are out of
// place only within their row, and an insertion sort puts them back with a
// few moves each, where a general sort compares every workload's labels
// n log n times. A point that moves farther than a row holds, or more
// moves than 4 per point in all, say the disorder is not local (a
// shaper's unordered pass-through): the general sort takes over. It
// reports whether it did.
func sortPoints(d *Desc, points []point) (general bool) {
	const rowReach = 32
	budget := 4 * len(points)
	for i := 1; i < len(points); i++ {
		for j := i; j > 0 && d.comparePoints(points[j-1], points[j]) > 0; j-- {
			if budget--; budget < 0 || i-j >= rowReach {
				slices.SortFunc(points, d.comparePoints)
				return true
			}
			points[j-1], points[j] = points[j], points[j-1]
		}
	}
	return false
}

// Empty reports whether the collection has no metric at all.
func (e *Exposition) Empty() bool { return len(e.workload) == 0 && len(e.Rest) == 0 }

// Cap applies a series cap to the per-workload metrics: keep returns how
// many of a metric's n series (in registry order) to keep.
func (e *Exposition) Cap(keep func(name string, n int) int) {
	for _, cf := range e.workload {
		cf.points = cf.points[:keep(cf.d.name, len(cf.points))]
	}
}

// diverter passes a collector's metrics on to the registry but for the
// series of descs the collector describes (a registry checks those
// against them), which it keeps as points for the text exposition.
type diverter struct {
	prometheus.Collector
	descs []*prometheus.Desc
	// families are the described ones; the map does not change while the
	// collector runs, so both goroutines of a collection read it.
	families map[*prometheus.Desc]*familyParts
}

// familyParts are a family's series as they come: in rows, taken in the
// collector's goroutine, and as samples on the channel, taken in the
// diverter's.
type familyParts struct{ rows, sent collectedFamily }

// merged is the family's series, those sent on the channel after the rows'.
func (fp *familyParts) merged() *collectedFamily {
	rows, sent := &fp.rows, &fp.sent
	switch {
	case len(sent.points) == 0:
		return rows
	case len(rows.points) == 0:
		return sent
	}
	rows.mixed = rows.mixed || sent.mixed || rows.histogram != sent.histogram || !rows.histogram && rows.kind != sent.kind
	rows.points = append(rows.points, sent.points...)
	return rows
}

func newDiverter(c prometheus.Collector) *diverter {
	d := &diverter{Collector: c, descs: Describe(c), families: map[*prometheus.Desc]*familyParts{}}
	for _, desc := range d.descs {
		d.families[desc] = &familyParts{}
	}
	return d
}

// Describe implements prometheus.Collector.
func (d *diverter) Describe(ch chan<- *prometheus.Desc) {
	for _, desc := range d.descs {
		ch <- desc
	}
}

// Collect implements prometheus.Collector. Rows come whole, in the
// collector's goroutine, without a channel send per series. What it kept
// before a panic of the collector stays, as the registry keeps what it
// sent before.
func (d *diverter) Collect(ch chan<- prometheus.Metric) {
	takeRow := func(desc *Desc, kind prometheus.ValueType, p point) bool {
		if parts := d.families[desc.Desc]; parts != nil {
			parts.rows.add(desc, kind, p)
			return true
		}
		return false
	}
	collectEach(d.Collector, &rowSink{take: func(r *Row) { r.divert(takeRow, ch) }}, func(m prometheus.Metric) {
		if s, ok := m.(*sample); ok {
			if parts := d.families[s.d.Desc]; parts != nil {
				parts.sent.add(s.d, s.kind, point{labels: s.labels, value: s.value, hist: s.hist})
				return
			}
		}
		ch <- m
	})
}

// add adds p, a series of desc of type kind (unused for a histogram).
func (cf *collectedFamily) add(desc *Desc, kind prometheus.ValueType, p point) {
	switch {
	case len(cf.points) == 0:
		cf.d, cf.kind, cf.histogram = desc, kind, p.hist != nil
		if n := desc.lastPoints.Load(); n > 0 {
			cf.points = make([]point, 0, n+n/16) // room for some new workloads
		}
	case cf.histogram != (p.hist != nil) || !cf.histogram && cf.kind != kind:
		cf.mixed = true
	}
	cf.points = append(cf.points, p)
}

// collectEach collects c and hands each metric to f, in this goroutine,
// and each row sent through Rows to rows (if not nil), in the collector's.
// A panic of the collector is raised again here, where the registry
// recovers and reports it.
func collectEach(c prometheus.Collector, rows *rowSink, f func(prometheus.Metric)) {
	in := make(chan prometheus.Metric, 256)
	if rows != nil {
		key := (chan<- prometheus.Metric)(in)
		rowSinks.Store(key, rows)
		defer rowSinks.Delete(key)
	}
	var panicked any
	go func() {
		defer close(in)
		defer func() { panicked = recover() }()
		c.Collect(in)
	}()
	for m := range in {
		f(m)
	}
	if panicked != nil {
		panic(panicked)
	}
}
