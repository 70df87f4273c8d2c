// Package histogram reads cumulative histograms as Prometheus exports them,
// for the API's figures and the terminal UI's rates alike.
package histogram

import "math"

// Quantile is Prometheus' histogram_quantile on one cumulative histogram of
// n buckets, bucket(i) giving the i-th upper bound (ascending; the last may
// be +Inf) and the observations at or below it, and total observations in
// all (those above the last finite bound included). It interpolates inside
// the bucket the rank falls in; false when there are no observations.
func Quantile(q float64, n int, bucket func(i int) (upper, cumulative float64), total float64) (float64, bool) {
	if total <= 0 {
		return 0, false
	}
	rank := q * total
	lower, below := 0.0, 0.0
	for i := range n {
		upper, count := bucket(i)
		if count >= rank {
			if math.IsInf(upper, 1) {
				return lower, true
			}
			if count == below {
				return upper, true
			}
			return lower + (upper-lower)*(rank-below)/(count-below), true
		}
		lower, below = upper, count
	}
	return lower, true
}
