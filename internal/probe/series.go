package probe

import (
	"slices"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/model"

	"github.com/orb8/orb8/internal/cgroup"
)

// family is what the text exposition needs of a WorkloadDesc: the desc says
// nothing of its name or labels once built, so WorkloadDesc keeps them here.
type family struct {
	desc      *prometheus.Desc
	name      string
	help      string
	numLabels int
	// order lists label value indexes in label name order: the order in
	// which the exposition writes labels and the registry sorts series.
	order []int
	// openers are `{cgroup="`, `",container="`, ...: what precedes each
	// label value in that order.
	openers []string
}

// families maps a WorkloadDesc to its family; written at package init
// (WorkloadDesc calls), read on every sample.
var families sync.Map

// registerFamily records d's family, unless the text exposition could not
// write it as client_golang would (a name needing quotes, an invalid desc):
// such a desc keeps making client_golang const metrics.
func registerFamily(d *prometheus.Desc, name, help string, labels []string) {
	if !model.LegacyValidation.IsValidMetricName(name) {
		return
	}
	for _, l := range labels {
		if !model.LegacyValidation.IsValidLabelName(l) || l == model.BucketLabel {
			return
		}
	}
	if _, err := prometheus.NewConstMetric(d, prometheus.UntypedValue, 0, make([]string, len(labels))...); err != nil {
		return
	}
	f := &family{desc: d, name: name, help: help, numLabels: len(labels)}
	f.order = make([]int, len(labels))
	for i := range f.order {
		f.order[i] = i
	}
	slices.SortFunc(f.order, func(a, b int) int { return strings.Compare(labels[a], labels[b]) })
	sep := "{"
	for _, i := range f.order {
		f.openers = append(f.openers, sep+labels[i]+`="`)
		sep = `",`
	}
	families.Store(d, f)
}

// familyOf returns d's family when a sample of it with these label values
// can take the fast path; nil sends it through client_golang, which panics
// on a wrong label count or invalid UTF-8 as it always did.
func familyOf(d *prometheus.Desc, labelValues []string) *family {
	v, ok := families.Load(d)
	if !ok {
		return nil
	}
	f := v.(*family)
	if len(labelValues) != f.numLabels {
		return nil
	}
	for _, l := range labelValues {
		if !utf8.ValidString(l) {
			return nil
		}
	}
	return f
}

// workloadLabels is w's label values followed by extra, in one allocation.
func workloadLabels(w cgroup.Workload, extra []string) []string {
	return append(append(make([]string, 0, len(cgroup.LabelNames)+len(extra)), w.Namespace, w.Pod, w.Container, w.Path), extra...)
}

// sample is one WorkloadMetric or WorkloadHistogram series as collected. The
// text exposition writes it as it is; for a registry (OTLP, protobuf
// scrapes, tests) Write makes the very dto.Metric client_golang's const
// metric makes, by making one.
type sample struct {
	fam    *family
	kind   prometheus.ValueType // unused for a histogram
	value  float64
	hist   *Log2Hist // set for a histogram
	labels []string  // in desc order
}

// Desc implements prometheus.Metric.
func (s *sample) Desc() *prometheus.Desc { return s.fam.desc }

// Write implements prometheus.Metric.
func (s *sample) Write(out *dto.Metric) error {
	if s.hist != nil {
		count, buckets := s.hist.Buckets()
		return prometheus.MustNewConstHistogram(s.fam.desc, count, s.hist.Seconds(), buckets, s.labels...).Write(out)
	}
	return prometheus.MustNewConstMetric(s.fam.desc, s.kind, s.value, s.labels...).Write(out)
}

// typeName is the sample's TYPE in the text format.
func (s *sample) typeName() string {
	switch {
	case s.hist != nil:
		return "histogram"
	case s.kind == prometheus.CounterValue:
		return "counter"
	case s.kind == prometheus.GaugeValue:
		return "gauge"
	}
	return "untyped"
}

// compareSamples orders a family's samples as the registry does: by label
// values, labels in name order.
func compareSamples(a, b *sample) int {
	for _, i := range a.fam.order {
		if c := strings.Compare(a.labels[i], b.labels[i]); c != 0 {
			return c
		}
	}
	return 0
}
