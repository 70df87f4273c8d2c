package testutil

import "slices"

// Median is the middle of v (the mean of the two middle values for an even
// count), 0 for none: benchmarks report it over rounds, which resists the
// outliers a noisy machine produces.
func Median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Clone(v)
	slices.Sort(s)
	return (s[(len(s)-1)/2] + s[len(s)/2]) / 2
}
