package series

import (
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// A Log2Hist as a Prometheus native histogram (an OTLP exponential one
// through the bridge): schema 0, whose bucket k holds (2^(k-1), 2^k]
// seconds. Log2Hist's bounds, 2^(i+1) microseconds, are no powers of two
// in seconds, so each slot goes whole to the native bucket that holds most
// of it: bucket i-19, bounded by 2^(i-19) = 2^(i+1) * 0.95367 us. Every
// bound reads 2^-20 s / 1 us = 0.953674 times the collected one (4.6%
// low); counts and the sum are exact. Slot 0 (below 2 us) is the zero
// bucket, up to NativeZeroThreshold; the last slot (2^26 us, 67 s, and
// longer) is bucket 7, (64 s, 128 s].
const (
	NativeSchema        = 0
	NativeZeroThreshold = 0x1p-19 // seconds: slot 0's bound, 2 us, scaled
	// nativeIndexOffset is a slot's native bucket index less the slot's.
	nativeIndexOffset = -19
)

// NativeIndex is the schema-0 bucket index slot i (i >= 1) is exported in.
func NativeIndex(i int) int { return i + nativeIndexOffset }

// setNative adds to h the native buckets of slots, counts per Log2Hist
// slot (the classic buckets and the count stay as they are): one span per
// run of non-empty buckets, counts as deltas from the previous bucket.
func setNative(h *dto.Histogram, slots []uint64) {
	h.Schema = proto.Int32(NativeSchema)
	h.ZeroThreshold = proto.Float64(NativeZeroThreshold)
	h.ZeroCount = proto.Uint64(slots[0])
	h.PositiveSpan, h.PositiveDelta = nil, nil
	var prev int64
	next := 0 // the index after the last span's end
	for i := 1; i < len(slots); i++ {
		if slots[i] == 0 {
			continue
		}
		k := NativeIndex(i)
		n := len(h.PositiveSpan)
		if n == 0 || k != next { // the first span's offset is its index
			h.PositiveSpan = append(h.PositiveSpan, &dto.BucketSpan{Offset: proto.Int32(int32(k - next)), Length: proto.Uint32(0)})
			n++
		}
		*h.PositiveSpan[n-1].Length++
		h.PositiveDelta = append(h.PositiveDelta, int64(slots[i])-prev)
		prev, next = int64(slots[i]), k+1
	}
}

// withNative is a histogram whose protobuf form also carries the native
// buckets of slots: what a family with native histograms exports where its
// series is no sample (chosen buckets, a client_golang histogram).
type withNative struct {
	prometheus.Metric
	slots []uint64
}

// Write implements prometheus.Metric.
func (m withNative) Write(out *dto.Metric) error {
	if err := m.Metric.Write(out); err != nil {
		return err
	}
	if out.Histogram != nil {
		setNative(out.Histogram, m.slots)
	}
	return nil
}
