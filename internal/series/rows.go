package series

import (
	"slices"
	"strings"
	"sync"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
)

// Rows is where a collection sends its per-workload rows: as samples on
// its channel, or, when a sink collects from that channel, whole to the
// sink: a Shaper, which aggregates a row's series without a sample or a
// channel send per series (at owner level a scrape of 10,000 pods was
// mostly those), or the text exposition, which keeps a row's series as
// points of their families. Make one per collection with RowsTo, and use it from one
// goroutine: it reuses one Row.
type Rows struct {
	ch   chan<- prometheus.Metric
	sink *rowSink
	row  Row      // the row being made for sink, reused
	buf  []string // its label values when made from a workload, reused
}

// rowSink takes a collection's rows whole, in the collector's goroutine.
type rowSink struct {
	take func(*Row)
	// unordered: the sink orders what it exports itself (a shaper), so
	// rows need not come in label order.
	unordered bool
}

// rowSinks are the channels whose collector a sink is collecting.
var rowSinks sync.Map // chan<- prometheus.Metric -> *rowSink

// RowsTo returns the rows of a collection sending on ch.
func RowsTo(ch chan<- prometheus.Metric) *Rows {
	rs := &Rows{ch: ch}
	if sink, ok := rowSinks.Load(ch); ok {
		rs.sink = sink.(*rowSink)
	}
	return rs
}

// InLabelOrder reports whether rows must come in label order
// (CompareWorkloads), as the registry sorts series; not when they go whole
// to a shaper, which orders what it exports itself.
func (rs *Rows) InLabelOrder() bool { return rs.sink == nil || !rs.sink.unordered }

// Row starts the row of w. Send its series, then call Done.
func (rs *Rows) Row(w cgroup.Workload) *Row {
	if rs.sink == nil {
		r := NewRow(w)
		r.ch = rs.ch
		return r
	}
	rs.buf = append(rs.buf[:0], w.Namespace, w.Pod, w.Container, w.Path)
	return rs.start(rs.buf, false)
}

// RowOf starts the row of a workload whose labels were made before: a
// shaper takes it without checking or hashing them again.
func (rs *Rows) RowOf(l *WorkloadLabels) *Row {
	if rs.sink == nil {
		return &Row{labels: l.values, valid: l.valid, ch: rs.ch}
	}
	r := rs.start(l.values, true)
	r.valid, r.cgroupHash, r.namesHash = l.valid, l.cgroupHash, l.namesHash
	return r
}

// start is the reused row for sink with these label values; hashed says
// whether its hashes and validity will be set.
func (rs *Rows) start(labels []string, hashed bool) *Row {
	r := &rs.row
	r.labels, r.hashed = labels, hashed
	r.sent, r.extras, r.sink = r.sent[:0], r.extras[:0], rs.sink.take
	return r
}

// WorkloadLabels are a workload's label values, checked and hashed once
// for every row of it while its names stay (probe.RowCache keeps them per
// cgroup id); they never change.
type WorkloadLabels struct {
	values                []string
	valid                 bool
	cgroupHash, namesHash uint64
}

// NewWorkloadLabels makes w's label values.
func NewWorkloadLabels(w cgroup.Workload) *WorkloadLabels {
	l := &WorkloadLabels{values: workloadLabels(w, nil)}
	l.valid = validUTF8(l.values)
	l.cgroupHash, l.namesHash = workloadHashes(l.values)
	return l
}

// CompareWorkloadLabels orders workload labels as CompareWorkloads orders
// their workloads.
func CompareWorkloadLabels(a, b *WorkloadLabels) int {
	// values are namespace, pod, container, cgroup; label name order is
	// cgroup, container, namespace, pod.
	for _, i := range [...]int{3, 2, 0, 1} {
		if c := strings.Compare(a.values[i], b.values[i]); c != 0 {
			return c
		}
	}
	return 0
}

// Relabel is l when it holds w's label values, or w's made anew: for a
// refresher that names its cgroups again at every rescan.
func Relabel(l *WorkloadLabels, w cgroup.Workload) *WorkloadLabels {
	if l != nil && slices.Equal(l.values, []string{w.Namespace, w.Pod, w.Container, w.Path}) {
		return l
	}
	return NewWorkloadLabels(w)
}

// workloadHashes are the hash of a workload's cgroup label value, which
// identifies its sources (sourceHash), and of its other label values.
func workloadHashes(values []string) (cgroupHash, namesHash uint64) {
	return hashOf(values[len(values)-1:]), hashOf(values[:len(values)-1])
}

// sent is one series of a row going to a sink, its extra label values
// extras[from:to] of the row.
type sent struct {
	d        *Desc
	kind     prometheus.ValueType
	value    float64
	hist     *Log2Hist
	from, to int
}

// Send sends the row's series of d (as Metric): on the channel now, or to
// the shaper at Done.
func (r *Row) Send(d *Desc, t prometheus.ValueType, v float64, extra ...string) {
	if r.sink == nil {
		r.ch <- r.Metric(d, t, v, extra...)
		return
	}
	r.sent = append(r.sent, sent{d: d, kind: t, value: v, from: len(r.extras), to: len(r.extras) + len(extra)})
	r.extras = append(r.extras, extra...)
}

// SendHistogram sends the row's histogram of d (as Histogram); h must
// stay as it is until Done.
func (r *Row) SendHistogram(d *Desc, h *Log2Hist, extra ...string) {
	if r.sink == nil {
		r.ch <- r.Histogram(d, h, extra...)
		return
	}
	r.sent = append(r.sent, sent{d: d, hist: h, from: len(r.extras), to: len(r.extras) + len(extra)})
	r.extras = append(r.extras, extra...)
}

// Done ends the row: a shaper takes it now.
func (r *Row) Done() {
	if r.sink != nil {
		r.sink(r)
	}
}

// divert hands the row's series, taken by a sink, to take as the points
// of the text exposition; they share one copy of the row's label values,
// and those with extra labels, and the histograms, one allocation each.
// A series that take refuses, or that the text exposition cannot write,
// goes to other as Metric or Histogram makes it.
func (r *Row) divert(take func(*Desc, prometheus.ValueType, point) bool, other chan<- prometheus.Metric) {
	if !r.hashed { // the Rows' buffer, reused for the next row
		r.labels = slices.Clone(r.labels)
		r.valid = validUTF8(r.labels)
	}
	var labelled, hists int
	for i := range r.sent {
		if s := &r.sent[i]; s.to > s.from {
			labelled += len(r.labels) + s.to - s.from
		}
		if r.sent[i].hist != nil {
			hists++
		}
	}
	labels := make([]string, 0, labelled)
	kept := make([]Log2Hist, 0, hists)
	for i := range r.sent {
		s := &r.sent[i]
		if !r.sentFast(s) {
			other <- r.metric(s)
			continue
		}
		p := point{labels: r.labels, value: s.value}
		if s.to > s.from {
			at := len(labels)
			labels = append(append(labels, r.labels...), r.extras[s.from:s.to]...)
			p.labels = labels[at:len(labels):len(labels)]
		}
		if s.hist != nil {
			kept = append(kept, *s.hist)
			p.hist = &kept[len(kept)-1]
		}
		if !take(s.d, s.kind, p) {
			other <- &sample{d: s.d, kind: s.kind, value: p.value, hist: p.hist, labels: p.labels}
		}
	}
}

// sentFast reports whether a series sent to a sink takes the text path, as
// Metric or Histogram decide; r.valid must be set.
func (r *Row) sentFast(s *sent) bool {
	return r.fast(s.d, r.extras[s.from:s.to]) && (s.hist != nil || plainValue(s.kind))
}

// metric is a series sent to a sink as the sample Metric or Histogram
// makes of it, for a sink that passes it on as collected.
func (r *Row) metric(s *sent) prometheus.Metric {
	extra := r.extras[s.from:s.to]
	labels := append(append(make([]string, 0, len(r.labels)+len(extra)), r.labels...), extra...)
	if s.hist != nil {
		return histogramSample(s.d, s.hist, labels)
	}
	return valueSample(s.d, s.kind, s.value, labels)
}
