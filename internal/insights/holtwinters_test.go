package insights

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestHoltWintersLearnsASeasonalSeries: a daily wave with a slow trend
// and 2% noise; the model forecasts the next day within 5%, and a
// seasonal-naive forecast does worse on the trend.
func TestHoltWintersLearnsASeasonalSeries(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	truth := func(i int) float64 { return 100 + 0.05*float64(i) + 30*math.Sin(2*math.Pi*float64(i)/24) }
	y := make([]float64, 24*14)
	for i := range y {
		y[i] = truth(i) * (1 + 0.02*r.NormFloat64())
	}
	m := chooseModel(y, []int{24, 168}, 24)
	if m == nil || m.period != 24 {
		t.Fatalf("model %+v, want the daily period (two weeks do not fit a weekly one twice with a day held out)", m)
	}
	f := make([]float64, 24)
	want := make([]float64, 24)
	for h := range f {
		f[h] = m.model.forecast(h + 1)
		want[h] = truth(len(y) + h)
	}
	if e := wape(f, want); e > 0.05 {
		t.Errorf("next-day error %.3f, want <= 0.05", e)
	}
	t.Logf("held-out error %.4f (seasonal naive %.4f), next day %.4f", m.holdoutWAPE, m.naiveWAPE, wape(f, want))
}

func TestChooseModelNeedsTwoPeriods(t *testing.T) {
	if m := chooseModel(make([]float64, 40), []int{24}, 10); m != nil {
		t.Errorf("30 training steps fitted a 24-step period: %+v", m)
	}
}
