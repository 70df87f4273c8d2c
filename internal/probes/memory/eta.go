package memory

import (
	"time"

	"github.com/orb8/orb8/internal/trend"
)

// etaRule is the OOM prediction heuristic (docs/design.md, "OOM prediction"):
// least-squares lines through the window of working-set samples and through
// its newer half; an ETA only from a line that rises clearly and steadily,
// the sooner of the two (the newer half sees growth that just started or
// sped up, which the whole window dilutes), and only while the limit is near
// enough in time for a short window to say anything about it.
type etaRule struct {
	minSamples int           // samples the line needs
	minR2      float64       // how well the line must explain the samples
	horizon    time.Duration // ETAs beyond it are not reported
}

var defaultETA = etaRule{minSamples: 5, minR2: 0.8, horizon: 24 * time.Hour}

// predict returns the seconds until usage, growing as the window's lines
// do, reaches limit; ok is false when it is not clearly growing.
func (r etaRule) predict(w *trend.Window, usage, limit uint64) (seconds float64, ok bool) {
	for _, f := range []trend.Fit{w.Fit(), w.FitLatest(w.Len() / 2)} {
		if f.N < r.minSamples || f.Slope <= 0 || f.R2 < r.minR2 {
			continue
		}
		eta := 0.0
		if usage < limit {
			eta = float64(limit-usage) / f.Slope
		}
		if !ok || eta < seconds {
			seconds, ok = eta, true
		}
	}
	if !ok || seconds > r.horizon.Seconds() {
		return 0, false
	}
	return seconds, true
}
