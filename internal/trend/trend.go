// Package trend fits a straight line through the latest samples of a gauge,
// for predictions such as "memory hits its limit in 40 s" or "file
// descriptors grow steadily".
package trend

import "time"

// Window keeps the latest samples of one gauge, oldest first.
type Window struct {
	p    []point
	size int
	t0   time.Time
}

type point struct {
	t float64 // seconds since the first sample ever added
	v float64
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
	switch {
	case len(w.p) == w.size:
		w.p = append(w.p[:0], w.p[1:]...)
	case len(w.p) == cap(w.p):
		// Grown as append grows, but never past size: a probe keeps a
		// window per workload, so room past size is waste.
		grown := make([]point, len(w.p), min(max(2*cap(w.p), 4), w.size))
		copy(grown, w.p)
		w.p = grown
	}
	w.p = append(w.p, point{t: at.Sub(w.t0).Seconds(), v: v})
}

// Reset forgets every sample, e.g. after a limit changed.
func (w *Window) Reset() {
	w.p, w.t0 = w.p[:0], time.Time{}
}

// Len is the number of samples held.
func (w *Window) Len() int { return len(w.p) }

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
func (w *Window) Fit() Fit { return w.FitLatest(len(w.p)) }

// FitLatest fits the line through the newest n samples (all when fewer are
// held). With fewer than two samples, or all at one time, the fit is the
// zero Fit plus N.
func (w *Window) FitLatest(n int) Fit {
	n = min(n, len(w.p))
	ps := w.p[len(w.p)-n:]
	f := Fit{N: n}
	if n < 2 {
		return f
	}
	var mt, mv float64
	for _, p := range ps {
		mt += p.t
		mv += p.v
	}
	mt /= float64(n)
	mv /= float64(n)
	var stt, svv, stv float64
	for _, p := range ps {
		dt, dv := p.t-mt, p.v-mv
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
	f.Last = mv + f.Slope*(ps[n-1].t-mt)
	return f
}

// Span is the time between the oldest and the newest sample.
func (w *Window) Span() time.Duration {
	if len(w.p) < 2 {
		return 0
	}
	return time.Duration((w.p[len(w.p)-1].t - w.p[0].t) * float64(time.Second))
}
