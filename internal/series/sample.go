// Package series is what probes export per workload: descriptors that carry
// the workload labels, samples kept as collected, and their Prometheus text
// exposition, which /metrics writes without building a client_golang metric
// per series (internal/export serves it).
package series

import (
	"slices"
	"sort"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/orb8/orb8/internal/cgroup"
)

// Set is the descriptors one collector exports: its Describe sends them.
// Declare a probe family's metrics through its own Set.
type Set struct{ descs []*prometheus.Desc }

// Workload adds a per-workload metric: the workload labels
// (cgroup.LabelNames), then extra.
func (s *Set) Workload(name, help string, extra ...string) *Desc {
	d := newDesc(name, help, append(append([]string{}, cgroup.LabelNames...), extra...))
	declare(d)
	s.descs = append(s.descs, d.Desc)
	return d
}

// WorkloadHistogram adds a per-workload histogram collected with the
// finite bucket bounds given (Log2Bounds for a Log2Hist): the bounds a
// config file may choose buckets among.
func (s *Set) WorkloadHistogram(name, help string, bounds []float64, extra ...string) *Desc {
	d := s.Workload(name, help, extra...)
	d.bounds = bounds
	return d
}

// Min makes aggregation keep the smallest value of a gauge rather than the
// sum (a predicted time until something happens, a limit).
func (d *Desc) Min() *Desc {
	d.combine = combineMin
	return d
}

// Max makes aggregation keep the largest value of a gauge rather than the
// sum (a 0/1 flag: 1 when any workload of the aggregate has it).
func (d *Desc) Max() *Desc {
	d.combine = combineMax
	return d
}

// combine is how aggregation combines the gauges of a family.
type combine int

const (
	combineSum combine = iota
	combineMin
	combineMax
)

// Plain adds a metric without the workload labels (node or probe level).
func (s *Set) Plain(name, help string, labels ...string) *prometheus.Desc {
	d := prometheus.NewDesc(name, help, labels, nil)
	s.descs = append(s.descs, d)
	return d
}

// Describe sends every descriptor of the set.
func (s *Set) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range s.descs {
		ch <- d
	}
}

// Desc describes a per-workload metric: its client_golang descriptor, and
// what the text exposition needs to write its samples, which the
// descriptor no longer tells once built.
type Desc struct {
	*prometheus.Desc
	name      string
	help      string
	numLabels int
	labels    []string
	bounds    []float64 // a histogram's finite bucket bounds; nil for others
	combine   combine   // how aggregation combines gauges
	// order lists label value indexes in label name order: the order in
	// which the exposition writes labels and the registry sorts series.
	order []int
	// openers are `{cgroup="`, `",container="`, ...: what precedes each
	// label value in that order.
	openers []string
	// text: the exposition can write samples of d as client_golang would;
	// false for a name needing quotes or an invalid desc, whose samples
	// are client_golang const metrics.
	text bool
	// lastPoints is how many series of d the last text collection had:
	// the room the next one starts with, so that a family of 40,000 series
	// is allocated once, not grown a quarter at a time (five times its
	// size in all).
	lastPoints atomic.Int64
}

func newDesc(name, help string, labels []string) *Desc {
	d := &Desc{Desc: prometheus.NewDesc(name, help, labels, nil), name: name, help: help, numLabels: len(labels), labels: labels}
	if !model.LegacyValidation.IsValidMetricName(name) {
		return d
	}
	for _, l := range labels {
		if !model.LegacyValidation.IsValidLabelName(l) || l == model.BucketLabel {
			return d
		}
	}
	if _, err := prometheus.NewConstMetric(d.Desc, prometheus.UntypedValue, 0, make([]string, len(labels))...); err != nil {
		return d
	}
	d.order = make([]int, len(labels))
	for i := range d.order {
		d.order[i] = i
	}
	slices.SortFunc(d.order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	names := make([]string, len(d.order))
	for i, at := range d.order {
		names[i] = labels[at]
	}
	d.openers = openers(names)
	d.text = true
	return d
}

// openers are what precedes each label value of a sample line whose
// labels, in name order, are names.
func openers(names []string) []string {
	out := make([]string, len(names))
	sep := "{"
	for i, n := range names {
		out[i] = sep + n + `="`
		sep = `",`
	}
	return out
}

// textable reports whether a sample of d with these label values can take
// the fast path; false sends it through client_golang, which panics on a
// wrong label count or invalid UTF-8 as it always did.
func (d *Desc) textable(labelValues []string) bool {
	return d.text && len(labelValues) == d.numLabels && validUTF8(labelValues)
}

func validUTF8(values []string) bool {
	for _, v := range values {
		if !utf8.ValidString(v) {
			return false
		}
	}
	return true
}

// plainValue reports whether a sample of type t is a number the text
// exposition writes (not a histogram or summary).
func plainValue(t prometheus.ValueType) bool {
	return t == prometheus.CounterValue || t == prometheus.GaugeValue || t == prometheus.UntypedValue
}

// Metric builds one sample of a per-workload series. It keeps the value as
// collected (see Exposition): /metrics writes it as text without building a
// client_golang metric per series.
func Metric(d *Desc, t prometheus.ValueType, v float64, w cgroup.Workload, extra ...string) prometheus.Metric {
	return valueSample(d, t, v, workloadLabels(w, extra))
}

// valueSample is a sample of d with these label values, as Metric makes it.
func valueSample(d *Desc, t prometheus.ValueType, v float64, labels []string) prometheus.Metric {
	if d.textable(labels) && plainValue(t) {
		return &sample{d: d, kind: t, value: v, labels: labels}
	}
	return prometheus.MustNewConstMetric(d.Desc, t, v, labels...)
}

// Histogram builds one histogram sample of a per-workload series, in
// seconds; like Metric it keeps a copy of h as collected.
func Histogram(d *Desc, h *Log2Hist, w cgroup.Workload, extra ...string) prometheus.Metric {
	return histogramSample(d, h, workloadLabels(w, extra))
}

// histogramSample is a histogram sample of d with these label values, as
// Histogram makes it.
func histogramSample(d *Desc, h *Log2Hist, labels []string) prometheus.Metric {
	if d.textable(labels) {
		kept := *h
		return &sample{d: d, hist: &kept, labels: labels}
	}
	count, buckets := h.Buckets()
	return prometheus.MustNewConstHistogram(d.Desc, count, h.Seconds(), buckets, labels...)
}

// workloadLabels is w's label values followed by extra, in one allocation.
func workloadLabels(w cgroup.Workload, extra []string) []string {
	return append(append(make([]string, 0, len(cgroup.LabelNames)+len(extra)), w.Namespace, w.Pod, w.Container, w.Path), extra...)
}

// CompareWorkloads orders workloads as the registry orders their series: by
// label values, labels taken in name order (cgroup, container, namespace,
// pod). Collectors that emit in this order keep a scrape's sort linear.
// It takes pointers and compares a label only when the ones before it are
// equal: probes sort tens of thousands of workloads per scrape with it.
func CompareWorkloads(a, b *cgroup.Workload) int {
	if c := strings.Compare(a.Path, b.Path); c != 0 {
		return c
	}
	if c := strings.Compare(a.Container, b.Container); c != 0 {
		return c
	}
	if c := strings.Compare(a.Namespace, b.Namespace); c != 0 {
		return c
	}
	return strings.Compare(a.Pod, b.Pod)
}

// SortByWorkload orders a table's rows by their workloads as
// CompareWorkloads does. A probe that refreshes a table in the background
// sorts it there, once, rather than have every scrape sort each of its
// families (10,000 workloads: ~4 ms per family).
func SortByWorkload[T any](rows []T, workload func(*T) *cgroup.Workload) {
	sort.Slice(rows, func(i, j int) bool { return CompareWorkloads(workload(&rows[i]), workload(&rows[j])) < 0 })
}

// sample is one Metric or Histogram series as collected. The text
// exposition keeps it as a point; for a registry (OTLP, protobuf scrapes,
// tests) Write makes the very dto.Metric client_golang's const metric
// makes, by making one.
type sample struct {
	d      *Desc
	kind   prometheus.ValueType // unused for a histogram
	value  float64
	hist   *Log2Hist // set for a histogram
	native bool      // a histogram's protobuf form has native buckets too
	labels []string  // in desc order
}

// Desc implements prometheus.Metric.
func (s *sample) Desc() *prometheus.Desc { return s.d.Desc }

// Write implements prometheus.Metric.
func (s *sample) Write(out *dto.Metric) error {
	if s.hist != nil {
		count, buckets := s.hist.Buckets()
		if err := prometheus.MustNewConstHistogram(s.d.Desc, count, s.hist.Seconds(), buckets, s.labels...).Write(out); err != nil {
			return err
		}
		if s.native {
			setNative(out.Histogram, s.hist.Slots[:])
		}
		return nil
	}
	return prometheus.MustNewConstMetric(s.d.Desc, s.kind, s.value, s.labels...).Write(out)
}

// point is one series of a family as the text exposition keeps it: the
// family keeps the descriptor and the type once, so a point is 40 bytes
// where a sample is 64 (a scrape of 10,000 workloads holds 130,000).
type point struct {
	labels []string // in desc order
	value  float64
	hist   *Log2Hist // set for a histogram
}

// typeName is the TYPE in the text format of a family of kind, or of
// histograms.
func typeName(kind prometheus.ValueType, histogram bool) string {
	switch {
	case histogram:
		return "histogram"
	case kind == prometheus.CounterValue:
		return "counter"
	case kind == prometheus.GaugeValue:
		return "gauge"
	}
	return "untyped"
}

// comparePoints orders a family's points as the registry orders its
// series: by label values, labels in name order.
func (d *Desc) comparePoints(a, b point) int {
	for _, i := range d.order {
		if c := strings.Compare(a.labels[i], b.labels[i]); c != 0 {
			return c
		}
	}
	return 0
}
