package memory

import (
	"math"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/trend"
)

func window(values ...float64) *trend.Window {
	w := trend.NewWindow(len(values))
	start := time.Unix(0, 0)
	for i, v := range values {
		w.Add(start.Add(time.Duration(i)*time.Second), v)
	}
	return w
}

func TestPredict(t *testing.T) {
	const mib = 1 << 20
	for _, c := range []struct {
		name   string
		w      *trend.Window
		usage  uint64
		limit  uint64
		eta    float64
		hasETA bool
	}{
		{"steady growth", window(10*mib, 11*mib, 12*mib, 13*mib, 14*mib, 15*mib), 15 * mib, 25 * mib, 10, true},
		{"flat", window(10*mib, 10*mib, 10*mib, 10*mib, 10*mib, 10*mib), 10 * mib, 25 * mib, 0, false},
		{"shrinking", window(15*mib, 14*mib, 13*mib, 12*mib, 11*mib, 10*mib), 10 * mib, 25 * mib, 0, false},
		{"noise", window(10*mib, 14*mib, 9*mib, 15*mib, 10*mib, 14*mib), 14 * mib, 25 * mib, 0, false},
		{"too few samples", window(10*mib, 11*mib, 12*mib), 12 * mib, 25 * mib, 0, false},
		{"at the limit", window(20*mib, 21*mib, 22*mib, 23*mib, 24*mib, 25*mib), 25 * mib, 25 * mib, 0, true},
		{"beyond the horizon", window(10*mib, 10*mib+1, 10*mib+2, 10*mib+3, 10*mib+4, 10*mib+5), 10*mib + 5, 25 * mib, 0, false},
		// Flat, then 2 MiB/s: the newer half sees the real rate.
		{"growth just started", window(10*mib, 10*mib, 10*mib, 10*mib, 10*mib, 10*mib, 12*mib, 14*mib, 16*mib, 18*mib, 20*mib, 22*mib),
			22 * mib, 42 * mib, 10, true},
	} {
		eta, ok := defaultETA.predict(c.w, c.usage, c.limit)
		if ok != c.hasETA || math.Abs(eta-c.eta) > 1e-6 {
			t.Errorf("%s: ETA %v, %v; want %v, %v", c.name, eta, ok, c.eta, c.hasETA)
		}
	}
}
