package testutil

import (
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// Histogram finds the histogram name whose labels include every pair in want,
// for tests that check its sum and buckets; nil when no series matches.
func Histogram(t testing.TB, g prometheus.Gatherer, name string, want map[string]string) *dto.Histogram {
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
				return m.GetHistogram()
			}
		}
	}
	return nil
}
