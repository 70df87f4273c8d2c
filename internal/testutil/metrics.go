package testutil

import (
	"io"
	"maps"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// Sample finds the value of metric name whose labels include every pair in
// want (a histogram's is its sample count). ok is false when no series
// matches.
func Sample(t testing.TB, g prometheus.Gatherer, name string, want map[string]string) (value float64, ok bool) {
	t.Helper()
	if m := find(t, g, name, want); m != nil {
		return metricValue(m), true
	}
	return 0, false
}

// Histogram finds the histogram name whose labels include every pair in want,
// for tests that check its sum and buckets; nil when no series matches.
func Histogram(t testing.TB, g prometheus.Gatherer, name string, want map[string]string) *dto.Histogram {
	t.Helper()
	return find(t, g, name, want).GetHistogram()
}

// Text is a gatherer of a Prometheus text exposition (a /metrics body), for
// Sample and Series.
func Text(t testing.TB, r io.Reader) prometheus.Gatherer {
	t.Helper()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	byName, err := parser.TextToMetricFamilies(r)
	if err != nil {
		t.Fatalf("parse metrics: %v", err)
	}
	families := slices.Collect(maps.Values(byName))
	return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return families, nil })
}

// find returns the first series of metric name whose labels include want.
func find(t testing.TB, g prometheus.Gatherer, name string, want map[string]string) *dto.Metric {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatalf("gather: %v", err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if matches(m, want) {
				return m
			}
		}
	}
	return nil
}

// Series lists the label sets of metric name, for failure messages.
func Series(t testing.TB, g prometheus.Gatherer, name string) string {
	t.Helper()
	families, _ := g.Gather()
	var out []string
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			var pairs []string
			for _, l := range m.GetLabel() {
				pairs = append(pairs, l.GetName()+"="+l.GetValue())
			}
			out = append(out, "{"+strings.Join(pairs, ",")+"}")
		}
	}
	sort.Strings(out)
	return strings.Join(out, " ")
}

func matches(m *dto.Metric, want map[string]string) bool {
	found := 0
	for _, l := range m.GetLabel() {
		if v, ok := want[l.GetName()]; ok {
			if v != l.GetValue() {
				return false
			}
			found++
		}
	}
	return found == len(want)
}

func metricValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Histogram != nil:
		return float64(m.GetHistogram().GetSampleCount())
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

// Collector is a probe (any collector whose Collect reports failure) as a
// prometheus.Collector for a test registry: a failed collection fails the
// test.
func Collector(t testing.TB, p interface {
	Describe(chan<- *prometheus.Desc)
	Collect(chan<- prometheus.Metric) error
}) prometheus.Collector {
	return collector{t, p}
}

type collector struct {
	t testing.TB
	p interface {
		Describe(chan<- *prometheus.Desc)
		Collect(chan<- prometheus.Metric) error
	}
}

func (c collector) Describe(ch chan<- *prometheus.Desc) { c.p.Describe(ch) }

func (c collector) Collect(ch chan<- prometheus.Metric) {
	if err := c.p.Collect(ch); err != nil {
		c.t.Errorf("collect: %v", err)
	}
}
