package insights

import (
	"math"
)

// holtWinters is an additive Holt-Winters model (level, damped trend,
// seasonal terms of period m) fitted to a series at a fixed step.
type holtWinters struct {
	alpha, beta, gamma, phi float64
	m                       int
	level, trend            float64
	season                  []float64 // season[i % m] is the term of step i
	n                       int       // steps seen
	sse                     float64   // one-step-ahead squared errors after the first season
}

// phi damps the trend: a trend h steps out adds phi + phi^2 + ... + phi^h
// steps' worth, so a slope learnt in one week is not extrapolated forever.
const dampTrend = 0.98

// The smoothing parameters tried (a grid: the series are short and
// fitting is a one-step pass each).
var (
	alphas = []float64{0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.7}
	betas  = []float64{0, 0.01, 0.05, 0.1}
	gammas = []float64{0.05, 0.1, 0.2, 0.3, 0.5}
)

// fitHoltWinters fits a model of period m to y (at least two periods),
// choosing the smoothing parameters with the least one-step-ahead squared
// error.
func fitHoltWinters(y []float64, m int) *holtWinters {
	var best *holtWinters
	for _, a := range alphas {
		for _, b := range betas {
			for _, g := range gammas {
				hw := &holtWinters{alpha: a, beta: b, gamma: g, phi: dampTrend, m: m}
				hw.run(y)
				if best == nil || hw.sse < best.sse {
					best = hw
				}
			}
		}
	}
	return best
}

// run initialises the model from the first two periods (level: the first
// period's mean; trend: the change of the mean per step between them;
// season: the first period's deviations from its mean) and updates it with
// every value.
func (hw *holtWinters) run(y []float64) {
	m := hw.m
	first, second := meanOf(y[:m]), meanOf(y[m:2*m])
	hw.level, hw.trend = first, (second-first)/float64(m)
	hw.season = make([]float64, m)
	for i := range m {
		hw.season[i] = y[i] - first
	}
	hw.n = m
	for _, v := range y[m:] {
		e := v - hw.forecast(1)
		hw.sse += e * e
		hw.update(v)
	}
}

func (hw *holtWinters) update(v float64) {
	s := hw.season[hw.n%hw.m]
	prevLevel := hw.level
	hw.level = hw.alpha*(v-s) + (1-hw.alpha)*(prevLevel+hw.phi*hw.trend)
	hw.trend = hw.beta*(hw.level-prevLevel) + (1-hw.beta)*hw.phi*hw.trend
	hw.season[hw.n%hw.m] = hw.gamma*(v-hw.level) + (1-hw.gamma)*s
	hw.n++
}

// forecast is the value h steps after the last one seen.
func (hw *holtWinters) forecast(h int) float64 {
	damped, p := 0.0, 1.0
	for range h {
		p *= hw.phi
		damped += p
	}
	return hw.level + damped*hw.trend + hw.season[(hw.n+h-1)%hw.m]
}

func meanOf(v []float64) float64 {
	s := 0.0
	for _, x := range v {
		s += x
	}
	return s / float64(len(v))
}

// wape is the weighted absolute percentage error of forecasts f against
// actual values y: sum |f - y| / sum |y| (NaN when y is all zeros). Unlike
// MAPE it stays finite when the series touches zero.
func wape(f, y []float64) float64 {
	var num, den float64
	for i := range y {
		num += math.Abs(f[i] - y[i])
		den += math.Abs(y[i])
	}
	if den == 0 {
		return math.NaN()
	}
	return num / den
}

// seasonalModel is the fit chosen for a series, with its error on the
// held-out end of the history.
type seasonalModel struct {
	period      int     // steps
	holdoutWAPE float64 // Holt-Winters fitted without the held-out steps
	naiveWAPE   float64 // the same period's seasonal-naive forecast (the value one period earlier)
	model       *holtWinters
}

// chooseModel fits a model for each candidate period that fits twice into
// the history less the held-out steps, keeps the one with the least error
// on the held-out steps, and refits it on the whole history. nil when no
// period fits.
func chooseModel(y []float64, periods []int, holdout int) *seasonalModel {
	var best *seasonalModel
	train := len(y) - holdout
	for _, m := range periods {
		if m < 2 || train < 2*m || holdout < 1 {
			continue
		}
		hw := fitHoltWinters(y[:train], m)
		f := make([]float64, holdout)
		naive := make([]float64, holdout)
		for h := range holdout {
			f[h] = hw.forecast(h + 1)
			naive[h] = y[train+h-m]
		}
		c := &seasonalModel{period: m, holdoutWAPE: wape(f, y[train:]), naiveWAPE: wape(naive, y[train:])}
		if best == nil || c.holdoutWAPE < best.holdoutWAPE {
			best = c
		}
	}
	if best != nil {
		best.model = fitHoltWinters(y, best.period)
	}
	return best
}
