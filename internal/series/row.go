package series

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
)

// Row makes the samples of one workload in one collection, as Metric and
// Histogram do: its label values are made and checked once and shared by
// its samples without extra labels, and samples are allocated a few at a
// time. A probe that exports several series per workload makes one Row
// per workload.
type Row struct {
	labels []string // the workload label values
	valid  bool     // every one is valid UTF-8
	// hashed: valid and the hashes of the labels (WorkloadLabels) are
	// set; a row going to a sink without them is checked and hashed there.
	hashed                bool
	cgroupHash, namesHash uint64
	free                  []sample // allocated, not yet handed out
	// Where Send sends (Rows.Row): on ch, or to sink at Done the series
	// sent and their extra label values.
	ch     chan<- prometheus.Metric
	sink   func(*Row)
	sent   []sent
	extras []string
}

// rowSamples is how many samples a Row allocates at once: probes export 2
// to 9 series per workload.
const rowSamples = 4

// NewRow returns the row of w.
func NewRow(w cgroup.Workload) *Row {
	labels := workloadLabels(w, nil)
	return &Row{labels: labels, valid: validUTF8(labels)}
}

// Metric is Metric(d, t, v, w, extra...) for the row's workload w.
func (r *Row) Metric(d *Desc, t prometheus.ValueType, v float64, extra ...string) prometheus.Metric {
	labels := r.with(extra)
	if !r.fast(d, extra) || !plainValue(t) {
		return valueSample(d, t, v, labels)
	}
	s := r.sample()
	*s = sample{d: d, kind: t, value: v, labels: labels}
	return s
}

// Histogram is Histogram(d, h, w, extra...) for the row's workload w.
func (r *Row) Histogram(d *Desc, h *Log2Hist, extra ...string) prometheus.Metric {
	labels := r.with(extra)
	if !r.fast(d, extra) {
		return histogramSample(d, h, labels)
	}
	kept := *h
	s := r.sample()
	*s = sample{d: d, hist: &kept, labels: labels}
	return s
}

// with is the label values of a sample with these extra labels: the row's
// own when there are none (samples never change their labels).
func (r *Row) with(extra []string) []string {
	if len(extra) == 0 {
		return r.labels
	}
	return append(append(make([]string, 0, len(r.labels)+len(extra)), r.labels...), extra...)
}

// fast reports whether a sample with these extra labels takes the text
// path (Desc.textable), with the row's own labels checked once.
func (r *Row) fast(d *Desc, extra []string) bool {
	return d.text && len(r.labels)+len(extra) == d.numLabels && r.valid && validUTF8(extra)
}

func (r *Row) sample() *sample {
	if len(r.free) == 0 {
		r.free = make([]sample, rowSamples)
	}
	s := &r.free[0]
	r.free = r.free[1:]
	return s
}
