package cuda

import (
	"testing"

	"github.com/orb8/orb8/internal/cgroup"
)

func TestLeakNeedsGrowthThroughTheWholeWindow(t *testing.T) {
	leaky := cgroup.Workload{Path: "/leaky"}
	warmup := cgroup.Workload{Path: "/warmup"}
	freeing := cgroup.Workload{Path: "/freeing"}
	d := newLeakDetector[cgroup.Workload]()
	samples := []map[cgroup.Workload]int64{
		{leaky: 0, warmup: 0, freeing: 100},
		{leaky: 10, warmup: 500, freeing: 200},
		{leaky: 20, warmup: 500, freeing: 300},
		{leaky: 30, warmup: 500, freeing: 400},
	}
	for _, s := range samples {
		d.observe(s)
		if d.isSuspected(leaky) {
			t.Fatalf("leak flagged after %d samples, before the window is full", len(samples))
		}
	}
	// The fifth sample completes the window: four steps of growth.
	d.observe(map[cgroup.Workload]int64{leaky: 40, warmup: 500, freeing: 50})
	if !d.isSuspected(leaky) {
		t.Fatal("memory grown at every step of the window not flagged")
	}
	if d.isSuspected(warmup) {
		t.Fatal("memory that grew once and stayed flat (allocator warmup) flagged")
	}
	if d.isSuspected(freeing) {
		t.Fatal("memory that fell in the last step flagged")
	}
	// One flat step clears the suspicion.
	d.observe(map[cgroup.Workload]int64{leaky: 40, warmup: 500, freeing: 60})
	if d.isSuspected(leaky) {
		t.Fatal("suspicion kept after a step without growth")
	}
	// A workload that disappears loses its history.
	d.observe(map[cgroup.Workload]int64{warmup: 500})
	if _, ok := d.history[leaky]; ok {
		t.Fatal("history of a vanished workload kept")
	}
}
