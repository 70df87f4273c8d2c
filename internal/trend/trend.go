// Package trend fits a straight line through the latest samples of a gauge,
// for predictions such as "memory hits its limit in 40 s" or "file
// descriptors grow steadily".
package trend

import "time"

// Window keeps the latest samples of one gauge, oldest first.
type Window struct {
	t    []float64 // seconds since the first sample ever added
	v    []float64
	size int
	t0   time.Time
}

// NewWindow returns a window of at most size samples (at least 2).
func NewWindow(size int) *Window {
	return &Window{size: max(size, 2)}
}

// Add appends a sample, dropping the oldest when the window is full.
func (w *Window) Add(at time.Time, v float64) {
	if w.t0.IsZero() {
		w.t0 = at
	}
	if len(w.v) == w.size {
		w.t = append(w.t[:0], w.t[1:]...)
		w.v = append(w.v[:0], w.v[1:]...)
	}
	w.t = append(w.t, at.Sub(w.t0).Seconds())
	w.v = append(w.v, v)
}

// Reset forgets every sample, e.g. after a limit changed.
func (w *Window) Reset() {
	w.t, w.v, w.t0 = w.t[:0], w.v[:0], time.Time{}
}

// Len is the number of samples held.
func (w *Window) Len() int { return len(w.v) }

// Cap is the most samples the window holds.
func (w *Window) Cap() int { return w.size }

// Fit is a least-squares line through a window's samples.
type Fit struct {
	N     int
	Slope float64 // units per second
	// R2 is the share of the samples' variance the line explains: 1 for
	// points on a line, near 0 for noise. 0 when the values are constant.
	R2 float64
	// Last is the line's value at the newest sample (less noisy than the sample).
	Last float64
}

// Fit fits the line through every sample held.
func (w *Window) Fit() Fit { return w.FitLatest(len(w.v)) }

// FitLatest fits the line through the newest n samples (all when fewer are
// held). With fewer than two samples, or all at one time, the fit is the
// zero Fit plus N.
func (w *Window) FitLatest(n int) Fit {
	n = min(n, len(w.v))
	ts, vs := w.t[len(w.t)-n:], w.v[len(w.v)-n:]
	f := Fit{N: n}
	if n < 2 {
		return f
	}
	var mt, mv float64
	for i := range n {
		mt += ts[i]
		mv += vs[i]
	}
	mt /= float64(n)
	mv /= float64(n)
	var stt, svv, stv float64
	for i := range n {
		dt, dv := ts[i]-mt, vs[i]-mv
		stt += dt * dt
		svv += dv * dv
		stv += dt * dv
	}
	if stt == 0 {
		return f
	}
	f.Slope = stv / stt
	if svv > 0 {
		f.R2 = stv * stv / (stt * svv)
	}
	f.Last = mv + f.Slope*(ts[n-1]-mt)
	return f
}

// Span is the time between the oldest and the newest sample.
func (w *Window) Span() time.Duration {
	if len(w.t) < 2 {
		return 0
	}
	return time.Duration((w.t[len(w.t)-1] - w.t[0]) * float64(time.Second))
}
