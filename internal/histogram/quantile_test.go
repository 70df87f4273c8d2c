package histogram

import (
	"math"
	"testing"
)

func TestQuantile(t *testing.T) {
	upper := []float64{0.001, 0.002, 0.004, math.Inf(1)}
	for _, c := range []struct {
		q          float64
		cumulative []float64
		total      float64
		want       float64
		ok         bool
	}{
		{0.99, []float64{0, 0, 0, 0}, 0, 0, false},
		// 100 observations, 50 in (0.002, 0.004]: rank 99 is 49/50 of the way in.
		{0.99, []float64{10, 50, 100, 100}, 100, 0.002 + 0.002*49/50, true},
		{0.5, []float64{10, 50, 100, 100}, 100, 0.002, true},
		// Ranks past the last finite bound stay at it.
		{0.99, []float64{10, 10, 10, 20}, 20, 0.004, true},
		// Without a +Inf bucket, total counts those above the last bound.
		{0.99, []float64{10, 10, 10}, 20, 0.004, true},
	} {
		got, ok := Quantile(c.q, len(c.cumulative), func(i int) (float64, float64) { return upper[i], c.cumulative[i] }, c.total)
		if ok != c.ok || math.Abs(got-c.want) > 1e-12 {
			t.Errorf("Quantile(%v, %v, %v) = %v, %v; want %v, %v", c.q, c.cumulative, c.total, got, ok, c.want, c.ok)
		}
	}
}
