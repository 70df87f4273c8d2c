package insights

import (
	"math"
	"sort"
)

// weightedQuantile returns the q-quantile (0..1) of values with weights:
// the smallest value whose cumulative weight reaches q of the total. NaN
// when there is no weight.
func weightedQuantile(values, weights []float64, q float64) float64 {
	idx := make([]int, len(values))
	total := 0.0
	for i := range idx {
		idx[i] = i
		total += weights[i]
	}
	if total <= 0 {
		return math.NaN()
	}
	sort.Slice(idx, func(a, b int) bool { return values[idx[a]] < values[idx[b]] })
	target, cum := q*total, 0.0
	for _, i := range idx {
		cum += weights[i]
		if cum >= target-1e-12*total {
			return values[i]
		}
	}
	return values[idx[len(idx)-1]]
}

// quantile is the unweighted q-quantile, interpolated between the closest
// ranks (numpy's default, which KRR uses).
func quantile(values []float64, q float64) float64 {
	if len(values) == 0 {
		return math.NaN()
	}
	s := append([]float64(nil), values...)
	sort.Float64s(s)
	pos := q * float64(len(s)-1)
	lo := int(math.Floor(pos))
	hi := min(lo+1, len(s)-1)
	return s[lo] + (s[hi]-s[lo])*(pos-float64(lo))
}

func median(values []float64) float64 { return quantile(values, 0.5) }

// mannWhitney is the two-sided Mann-Whitney U test of whether b's values
// tend to differ from a's: the p-value of U under the normal approximation
// with the tie correction and a continuity correction (fine from ~8 values
// a side). 1 when either side is empty or every value ties.
func mannWhitney(a, b []float64) float64 {
	n1, n2 := float64(len(a)), float64(len(b))
	if n1 == 0 || n2 == 0 {
		return 1
	}
	type obs struct {
		v     float64
		fromA bool
	}
	all := make([]obs, 0, len(a)+len(b))
	for _, v := range a {
		all = append(all, obs{v, true})
	}
	for _, v := range b {
		all = append(all, obs{v, false})
	}
	sort.Slice(all, func(i, j int) bool { return all[i].v < all[j].v })
	n := n1 + n2
	rankSumA, tieTerm := 0.0, 0.0
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		rank := float64(i+j+1) / 2 // mean of ranks i+1..j
		for k := i; k < j; k++ {
			if all[k].fromA {
				rankSumA += rank
			}
		}
		t := float64(j - i)
		tieTerm += t*t*t - t
		i = j
	}
	u := rankSumA - n1*(n1+1)/2
	mu := n1 * n2 / 2
	sigma := math.Sqrt(n1 * n2 / 12 * ((n + 1) - tieTerm/(n*(n-1))))
	if sigma == 0 {
		return 1
	}
	z := (math.Abs(u-mu) - 0.5) / sigma
	if z < 0 {
		z = 0
	}
	return math.Erfc(z / math.Sqrt2) // 2 * (1 - Phi(z))
}

// hodgesLehmann is the median of all differences b[j] - a[i]: the shift
// from a to b that the Mann-Whitney test is about, robust to outliers.
func hodgesLehmann(a, b []float64) float64 {
	d := make([]float64, 0, len(a)*len(b))
	for _, x := range a {
		for _, y := range b {
			d = append(d, y-x)
		}
	}
	return median(d)
}
