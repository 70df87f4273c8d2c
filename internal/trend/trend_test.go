package trend

import (
	"math"
	"testing"
	"time"
)

func TestFitLine(t *testing.T) {
	w := NewWindow(5)
	start := time.Unix(1000, 0)
	// 10 samples of v = 100 + 3t; only the last 5 stay.
	for i := range 10 {
		w.Add(start.Add(time.Duration(i)*time.Second), 100+3*float64(i))
	}
	f := w.Fit()
	if f.N != 5 || math.Abs(f.Slope-3) > 1e-9 || math.Abs(f.R2-1) > 1e-9 || math.Abs(f.Last-127) > 1e-9 {
		t.Fatalf("fit = %+v, want N 5, slope 3, R2 1, last 127", f)
	}
	if f := w.FitLatest(2); f.N != 2 || math.Abs(f.Slope-3) > 1e-9 || f.Last != 127 {
		t.Fatalf("fit of the latest 2 = %+v, want N 2, slope 3, last 127", f)
	}
	if w.Span() != 4*time.Second {
		t.Fatalf("span = %v, want 4s", w.Span())
	}
}

func TestFitNoiseAndFlat(t *testing.T) {
	w := NewWindow(8)
	start := time.Unix(0, 0)
	for i, v := range []float64{5, 9, 4, 8, 5, 9, 4, 8} {
		w.Add(start.Add(time.Duration(i)*time.Second), v)
	}
	if f := w.Fit(); f.R2 > 0.2 {
		t.Fatalf("zig-zag fit R2 = %v, want < 0.2", f.R2)
	}
	w.Reset()
	for i := range 4 {
		w.Add(start.Add(time.Duration(i)*time.Second), 7)
	}
	if f := w.Fit(); f.Slope != 0 || f.R2 != 0 || f.Last != 7 {
		t.Fatalf("flat fit = %+v, want slope 0, R2 0, last 7", f)
	}
}

func TestFitTooFewSamples(t *testing.T) {
	w := NewWindow(1) // raised to 2
	if f := w.Fit(); f.N != 0 || f.Slope != 0 {
		t.Fatalf("empty fit = %+v", f)
	}
	now := time.Now()
	w.Add(now, 1)
	w.Add(now, 2) // same instant: no slope
	w.Add(now, 3)
	if f := w.Fit(); f.N != 2 || f.Slope != 0 {
		t.Fatalf("fit at one instant = %+v, want N 2 and no slope", f)
	}
}

func TestFitLatestSeesAKink(t *testing.T) {
	w := NewWindow(12)
	start := time.Unix(0, 0)
	// Flat for 6 s, then +10 per second.
	for i := range 12 {
		v := 50.0
		if i > 5 {
			v += 10 * float64(i-5)
		}
		w.Add(start.Add(time.Duration(i)*time.Second), v)
	}
	whole, latest := w.Fit(), w.FitLatest(6)
	if whole.Slope >= 8 || math.Abs(latest.Slope-10) > 1e-9 {
		t.Fatalf("whole window slope %v (want < 8: it mixes the flat part), latest half %v (want 10)", whole.Slope, latest.Slope)
	}
}

// A probe keeps a window per workload: a full one holds no room past its size.
func TestWindowHoldsNoRoomPastItsSize(t *testing.T) {
	w := NewWindow(36)
	start := time.Unix(0, 0)
	for i := range 100 {
		w.Add(start.Add(time.Duration(i)*time.Second), float64(i))
		if want := min(i+1, 36); w.Len() != want || cap(w.p) > 36 {
			t.Fatalf("after %d samples: len %d (want %d), room %d (want at most 36)", i+1, w.Len(), want, cap(w.p))
		}
	}
	if f := w.Fit(); f.N != 36 || math.Abs(f.Slope-1) > 1e-9 || math.Abs(f.Last-99) > 1e-9 {
		t.Fatalf("fit = %+v, want the latest 36 samples of v = t", f)
	}
}
