package series

import (
	"slices"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// tally is one series' value as the shaper adds it up: a number, or a
// histogram's counts (a Log2Hist, or buckets of other bounds).
type tally struct {
	kind prometheus.ValueType // of a number
	v    float64
	log2 *Log2Hist
	hist *bucketHist
}

// bucketHist is a histogram of any bounds: counts per bound, not
// cumulative, the last one the +Inf bucket.
type bucketHist struct {
	bounds []float64
	counts []uint64
	sum    float64
}

// histTally reads a client_golang histogram.
func histTally(h *dto.Histogram) tally {
	b := &bucketHist{bounds: make([]float64, 0, len(h.Bucket)), counts: make([]uint64, 0, len(h.Bucket)+1), sum: h.GetSampleSum()}
	var below uint64
	for _, bucket := range h.Bucket {
		b.bounds = append(b.bounds, bucket.GetUpperBound())
		b.counts = append(b.counts, bucket.GetCumulativeCount()-below)
		below = bucket.GetCumulativeCount()
	}
	b.counts = append(b.counts, h.GetSampleCount()-below)
	return tally{hist: b}
}

// log2Slots are a histogram's counts per Log2Hist slot; nil when p is no
// histogram of Log2Hist's bounds.
func (p *tally) log2Slots() []uint64 {
	switch {
	case p.log2 != nil:
		return p.log2.Slots[:]
	case p.hist != nil && slices.Equal(p.hist.bounds, log2Bounds) && len(p.hist.counts) == Log2Slots:
		return p.hist.counts
	}
	return nil
}

// cumulative reports whether p only grows while its series lives: a
// counter or a histogram.
func (p *tally) cumulative() bool {
	return p.log2 != nil || p.hist != nil || p.kind == prometheus.CounterValue
}

// below reports whether p counted less than q: its series restarted.
func (p *tally) below(q *tally) bool {
	switch {
	case p.log2 != nil && q.log2 != nil:
		for i := range p.log2.Slots {
			if p.log2.Slots[i] < q.log2.Slots[i] {
				return true
			}
		}
		return false
	case p.hist != nil && q.hist != nil:
		for i := range min(len(p.hist.counts), len(q.hist.counts)) {
			if p.hist.counts[i] < q.hist.counts[i] {
				return true
			}
		}
		return false
	}
	return p.v < q.v
}

// clone is a copy of p that shares nothing with it.
func (p tally) clone() tally {
	if p.log2 != nil {
		h := *p.log2
		p.log2 = &h
	}
	if p.hist != nil {
		h := *p.hist
		h.counts = append([]uint64(nil), h.counts...)
		p.hist = &h
	}
	return p
}

// add adds q to p (sign 1) or takes it away (sign -1); an empty p takes
// q's kind. Counts are unsigned and wrap, which the sums undo: p never
// ends below zero.
func (p *tally) add(q *tally, sign int) {
	switch {
	case q.log2 != nil:
		if p.log2 == nil {
			p.log2 = new(Log2Hist)
		}
		for i, v := range q.log2.Slots {
			p.log2.Slots[i] += uint64(sign) * v
		}
		p.log2.SumNs += uint64(sign) * q.log2.SumNs
	case q.hist != nil:
		if p.hist == nil {
			p.hist = &bucketHist{bounds: q.hist.bounds, counts: make([]uint64, len(q.hist.counts))}
		}
		for i, v := range q.hist.counts[:min(len(q.hist.counts), len(p.hist.counts))] {
			p.hist.counts[i] += uint64(sign) * v
		}
		p.hist.sum += float64(sign) * q.hist.sum
	case q.kind != 0:
		p.kind = q.kind
		p.v += float64(sign) * q.v
	}
}
