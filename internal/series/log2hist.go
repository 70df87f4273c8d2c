package series

import "math"

// Log2Slots is ORB8_LOG2_SLOTS of orb8_hist.h.
const Log2Slots = 27

// Log2Hist is a latency histogram of log2 buckets, laid out as struct
// orb8_log2_hist (orb8_hist.h) so that the kernel's values convert to it:
// slot i counts latencies below 2^(i+1) microseconds, the last slot
// everything longer; SumNs is exact. A bpf2go type of the same layout
// converts to it.
type Log2Hist struct {
	Slots [Log2Slots]uint64
	SumNs uint64
}

// Add adds o into h (summing per-CPU values or folding cgroups).
func (h *Log2Hist) Add(o *Log2Hist) {
	for i, v := range o.Slots {
		h.Slots[i] += v
	}
	h.SumNs += o.SumNs
}

// Log2UpperBound is the upper bound in seconds of slot i: its latencies are
// all below it. The last slot has none (+Inf).
func Log2UpperBound(i int) float64 {
	if i >= Log2Slots-1 {
		return math.Inf(1)
	}
	return math.Ldexp(1e-6, i+1)
}

// Buckets returns the sample count and the cumulative Prometheus buckets.
func (h *Log2Hist) Buckets() (count uint64, buckets map[float64]uint64) {
	buckets = make(map[float64]uint64, Log2Slots-1)
	for i, v := range h.Slots {
		count += v
		if i < Log2Slots-1 {
			buckets[Log2UpperBound(i)] = count
		}
	}
	return count, buckets
}

// Seconds is the sum of the latencies in seconds.
func (h *Log2Hist) Seconds() float64 { return float64(h.SumNs) / 1e9 }
