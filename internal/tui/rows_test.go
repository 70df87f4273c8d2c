package tui

import (
	"testing"
	"time"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// TestRunqueueWaitBetweenReadings: the mean wait per timeslice comes from
// the counters' differences, and holds while they stand still (they move
// every 5 s, refreshes come faster).
func TestRunqueueWaitBetweenReadings(t *testing.T) {
	prev := map[string]sample{}
	at := time.Unix(1000, 0)
	read := func(wait, slices float64) *float64 {
		f := &pb.WorkloadFigures{Workload: &pb.Workload{Cgroup: "/w"}, RunqueueWaitSecondsTotal: &wait, TimeslicesTotal: &slices}
		at = at.Add(time.Second)
		return buildRows([]*pb.WorkloadFigures{f}, at, prev)[0].rqWait
	}
	if got := read(1, 10); got != nil {
		t.Fatalf("first reading: %v, want none (no difference yet)", *got)
	}
	for i, c := range []struct{ wait, slices, want float64 }{{3, 20, 0.2}, {3, 20, 0.2}, {3.5, 30, 0.05}} {
		if got := read(c.wait, c.slices); got == nil || *got != c.want {
			t.Fatalf("reading %d: %v, want %v", i+2, got, c.want)
		}
	}
	if got := read(0.1, 2); got != nil {
		t.Fatalf("after the counters went back (agent restarted): %v, want none", *got)
	}
}
