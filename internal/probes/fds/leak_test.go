package fds

import (
	"testing"
	"time"

	"github.com/orb8/orb8/internal/trend"
)

func TestLeakRule(t *testing.T) {
	for _, c := range []struct {
		name   string
		counts []float64
		leak   bool
	}{
		{"steady growth", []float64{100, 104, 108, 112, 116, 120}, true},
		{"steady but slow", []float64{100, 101, 102, 103, 104, 105}, false}, // +5 < 10
		{"flat", []float64{300, 300, 300, 300, 300, 300}, false},
		{"burst that came and went", []float64{100, 100, 180, 180, 100, 100}, false},
		{"sawtooth", []float64{100, 130, 100, 130, 100, 130}, false},
		{"window not full yet", []float64{100, 110, 120}, false},
	} {
		w := trend.NewWindow(6)
		for i, v := range c.counts {
			w.Add(time.Unix(int64(i), 0), v)
		}
		if got := defaultLeak.leaking(w); got != c.leak {
			t.Errorf("%s: leaking = %v, want %v", c.name, got, c.leak)
		}
	}
}
