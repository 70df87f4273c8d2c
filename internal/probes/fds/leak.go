package fds

import "github.com/orb8/orb8/internal/trend"

// leakRule flags steady fd growth (docs/design.md, "File descriptor leaks"):
// over a full window of scans, a least-squares line through the workload's
// open fds that rises by at least minGrowth and explains the samples well
// (R² >= minR2: growth that is steady, not a burst that came and went).
type leakRule struct {
	minGrowth float64
	minR2     float64
}

var defaultLeak = leakRule{minGrowth: 10, minR2: 0.9}

// leaking applies the rule to a workload's window of open fd counts.
func (r leakRule) leaking(w *trend.Window) bool {
	if w.Len() < w.Cap() {
		return false
	}
	f := w.Fit()
	return f.Slope > 0 && f.R2 >= r.minR2 && f.Slope*w.Span().Seconds() >= r.minGrowth
}
