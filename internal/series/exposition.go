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
// Per-workload series (Metric and Histogram samples) stay as collected and
// are written as text directly: through a registry and the text encoder
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

// collectedFamily is one per-workload metric's samples, in registry order.
type collectedFamily struct {
	d       *Desc
	samples []*sample
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
	byName := map[string]*collectedFamily{}
	for _, d := range diverters {
		for _, s := range d.samples {
			cf := byName[s.d.name]
			if cf == nil {
				cf = &collectedFamily{d: s.d}
				byName[s.d.name] = cf
				e.workload = append(e.workload, cf)
			} else if cf.d != s.d || cf.samples[0].typeName() != s.typeName() {
				return nil, fmt.Errorf("%w: %s has two descriptors or types", ErrUseRegistry, s.d.name)
			}
			cf.samples = append(cf.samples, s)
		}
	}
	slices.SortFunc(e.workload, func(a, b *collectedFamily) int { return strings.Compare(a.d.name, b.d.name) })
	for _, cf := range e.workload {
		if _, found := slices.BinarySearchFunc(rest, cf.d.name, func(f *dto.MetricFamily, name string) int {
			return strings.Compare(f.GetName(), name)
		}); found {
			return nil, fmt.Errorf("%w: %s also has client_golang metrics", ErrUseRegistry, cf.d.name)
		}
		if !sortedUnique(cf.samples) {
			sortSamples(cf.samples)
			for i := 1; i < len(cf.samples); i++ {
				if compareSamples(cf.samples[i-1], cf.samples[i]) == 0 {
					return nil, fmt.Errorf("%w: %s has two series with the same labels", ErrUseRegistry, cf.d.name)
				}
			}
		}
	}
	return e, err
}

// sortedUnique reports whether samples are in registry order with no two
// alike: one pass for collectors that emit in CompareWorkloads order.
func sortedUnique(samples []*sample) bool {
	for i := 1; i < len(samples); i++ {
		if compareSamples(samples[i-1], samples[i]) >= 0 {
			return false
		}
	}
	return true
}

// sortSamples sorts samples in registry order. Probes send workloads in
// label order, but a row's own series often are not (tx before rx, a
// state machine's states in their enum's order): those samples are out of
// place only within their row, and an insertion sort puts them back with a
// few moves each, where a general sort compares every workload's labels
// n log n times. A sample that moves farther than a row holds, or more
// moves than 4 per sample in all, say the disorder is not local (a
// shaper's unordered pass-through): the general sort takes over. It
// reports whether it did.
func sortSamples(samples []*sample) (general bool) {
	const rowReach = 32
	budget := 4 * len(samples)
	for i := 1; i < len(samples); i++ {
		for j := i; j > 0 && compareSamples(samples[j-1], samples[j]) > 0; j-- {
			if budget--; budget < 0 || i-j >= rowReach {
				slices.SortFunc(samples, compareSamples)
				return true
			}
			samples[j-1], samples[j] = samples[j], samples[j-1]
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
		cf.samples = cf.samples[:keep(cf.d.name, len(cf.samples))]
	}
}

// diverter passes a collector's metrics on to the registry but for the
// samples of descs the collector describes (a registry checks those
// against them), which it keeps for the text exposition.
type diverter struct {
	prometheus.Collector
	descs     []*prometheus.Desc
	described map[*prometheus.Desc]bool
	samples   []*sample
}

func newDiverter(c prometheus.Collector) *diverter {
	d := &diverter{Collector: c, descs: Describe(c), described: map[*prometheus.Desc]bool{}}
	for _, desc := range d.descs {
		d.described[desc] = true
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
// collector's goroutine, without a channel send per series.
func (d *diverter) Collect(ch chan<- prometheus.Metric) {
	keep := func(s *sample) bool { return d.described[s.d.Desc] }
	var fromRows []*sample
	take := func(r *Row) { fromRows = r.appendSamples(fromRows, keep, ch) }
	// Kept also when the collector panics, as the registry keeps what it
	// sent before.
	defer func() { d.samples = append(d.samples, fromRows...) }()
	collectEach(d.Collector, &rowSink{take: take}, func(m prometheus.Metric) {
		if s, ok := m.(*sample); ok && keep(s) {
			d.samples = append(d.samples, s)
			return
		}
		ch <- m
	})
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
