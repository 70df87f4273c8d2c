package series

import (
	"math"
	"testing"
)

func TestLog2HistBuckets(t *testing.T) {
	var h Log2Hist
	h.Slots[0] = 3           // 0..1 us: below 2 us
	h.Slots[10] = 2          // 1024..2047 us: below 2.048 ms
	h.Slots[Log2Slots-1] = 1 // 67 s or more: only in +Inf
	h.SumNs = 5_000_000_000
	var o Log2Hist
	o.Slots[10] = 1
	o.SumNs = 1_500_000
	h.Add(&o)

	count, buckets := h.Buckets()
	if count != 7 {
		t.Fatalf("count = %d, want 7", count)
	}
	if len(buckets) != Log2Slots-1 {
		t.Fatalf("%d buckets, want %d (the last slot is +Inf)", len(buckets), Log2Slots-1)
	}
	for le, want := range map[float64]uint64{2e-6: 3, 1.024e-3: 3, 2.048e-3: 6, 67.108864: 6} {
		if got, ok := buckets[le]; !ok || got != want {
			t.Errorf("bucket le=%g = %d (present %v), want %d", le, got, ok, want)
		}
	}
	if h.SumNs != 5_001_500_000 {
		t.Errorf("sum = %d ns", h.SumNs)
	}
	if !math.IsInf(Log2UpperBound(Log2Slots-1), 1) {
		t.Errorf("last slot bound = %g, want +Inf", Log2UpperBound(Log2Slots-1))
	}
}
