package insights

import (
	"math"
	"math/rand/v2"
	"testing"
)

func TestWeightedQuantile(t *testing.T) {
	v := []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}
	w := []float64{1, 1, 1, 1, 1, 1, 1, 1, 1, 1}
	for q, want := range map[float64]float64{0.9: 9, 0.5: 5, 0.95: 10, 0.1: 1, 1: 10} {
		if got := weightedQuantile(v, w, q); got != want {
			t.Errorf("q%.2f = %v, want %v", q, got, want)
		}
	}
	// Weight moves the quantile: 10 carries half the weight (9 of 18), so
	// the median is still 9 (cumulative 9 of 18), and anything above is 10.
	w[9] = 9
	if got := weightedQuantile(v, w, 0.5); got != 9 {
		t.Errorf("weighted median = %v, want 9", got)
	}
	if got := weightedQuantile(v, w, 0.51); got != 10 {
		t.Errorf("weighted q0.51 = %v, want 10", got)
	}
	if got := weightedQuantile(nil, nil, 0.5); !math.IsNaN(got) {
		t.Errorf("empty: %v", got)
	}
}

func TestQuantileInterpolates(t *testing.T) {
	if got := quantile([]float64{4, 1, 3, 2}, 0.5); got != 2.5 {
		t.Errorf("median of 1..4 = %v, want 2.5", got)
	}
	if got := quantile([]float64{0, 10}, 0.95); math.Abs(got-9.5) > 1e-12 {
		t.Errorf("q0.95 of {0,10} = %v, want 9.5", got)
	}
}

// TestMannWhitneyKnownValues checks p-values worked out by hand.
func TestMannWhitneyKnownValues(t *testing.T) {
	for _, c := range []struct {
		a, b []float64
		p    float64
	}{
		// Ranks of a: 1-4, then 5.5, 7.5, 9.5, 11.5 (5..8 tie with b's):
		// sum 44, U = 44 - 8*9/2 = 8, mean 32; four ties of two:
		// var = 8*8/12 * (17 - 24/(16*15)) = 90.133; z = (24 - 0.5) /
		// 9.4939 = 2.4753; p = erfc(z/sqrt 2) = 0.01331.
		{[]float64{1, 2, 3, 4, 5, 6, 7, 8}, []float64{5, 6, 7, 8, 9, 10, 11, 12}, 0.01331},
		// identical samples
		{[]float64{1, 2, 3}, []float64{1, 2, 3}, 1},
		// ties everywhere
		{[]float64{1, 1, 1}, []float64{1, 1, 1}, 1},
	} {
		if got := mannWhitney(c.a, c.b); math.Abs(got-c.p) > 5e-4 {
			t.Errorf("mannWhitney(%v, %v) = %.5f, want %.5f", c.a, c.b, got, c.p)
		}
	}
}

// TestMannWhitneyFalsePositiveRate: under no change, p < 0.01 about 1% of
// the time; a 1-sigma shift with 60 samples a side is found nearly always.
func TestMannWhitneyFalsePositiveRate(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	sample := func(n int, shift float64) []float64 {
		out := make([]float64, n)
		for i := range out {
			out[i] = r.NormFloat64() + shift
		}
		return out
	}
	const trials = 2000
	same, shifted := 0, 0
	for range trials {
		if mannWhitney(sample(60, 0), sample(60, 0)) < 0.01 {
			same++
		}
		if mannWhitney(sample(60, 0), sample(60, 1)) < 0.01 {
			shifted++
		}
	}
	rate, power := float64(same)/trials, float64(shifted)/trials
	t.Logf("alpha 0.01, 60 samples a side: false positives %.2f%%, power against a 1-sigma shift %.1f%%", 100*rate, 100*power)
	if rate > 0.02 {
		t.Errorf("false positive rate %.3f at alpha 0.01", rate)
	}
	if power < 0.95 {
		t.Errorf("power %.3f for a 1-sigma shift", power)
	}
}

func TestHodgesLehmann(t *testing.T) {
	if got := hodgesLehmann([]float64{1, 2, 3}, []float64{11, 12, 13}); got != 10 {
		t.Errorf("shift = %v, want 10", got)
	}
}
