package apiclient

import (
	"testing"
	"time"

	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

func TestLatenciesQuantiles(t *testing.T) {
	var l Latencies
	if q := l.Quantile(0.99); q != 0 {
		t.Fatalf("quantile with nothing recorded = %v, want 0", q)
	}
	now := time.Now()
	for i := 100; i >= 1; i-- { // 1..100 ms, recorded out of order
		if i%2 == 0 {
			l.Observe(&pb.Event{Time: timestamppb.New(now.Add(-time.Duration(i) * time.Millisecond))})
		} else {
			l.Since(now.Add(-time.Duration(i) * time.Millisecond))
		}
	}
	if l.Count() != 100 {
		t.Fatalf("count = %d, want 100", l.Count())
	}
	// Each latency is its age plus the time the test took to get here: on
	// the wall clock for events (their times are wall times), on the
	// monotonic one for Since; the two drift apart while the clock is slewed.
	slack := max(time.Since(now), time.Now().Round(0).Sub(now.Round(0)))
	for _, c := range []struct {
		q    float64
		want time.Duration
	}{{0, time.Millisecond}, {0.5, 50 * time.Millisecond}, {0.99, 99 * time.Millisecond}, {1, 100 * time.Millisecond}} {
		if got := l.Quantile(c.q); got < c.want || got > c.want+slack {
			t.Errorf("quantile %v = %v, want %v (+ up to %v)", c.q, got, c.want, slack)
		}
	}
}
