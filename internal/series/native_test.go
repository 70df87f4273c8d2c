package series

import (
	"fmt"
	"maps"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
)

// nativeBuckets decodes a native histogram's positive spans and deltas
// into counts by bucket index, as Prometheus reads them.
func nativeBuckets(t *testing.T, h *dto.Histogram) map[int]uint64 {
	t.Helper()
	out := map[int]uint64{}
	var count int64
	index, d := 0, 0
	for _, s := range h.GetPositiveSpan() {
		index += int(s.GetOffset())
		for range s.GetLength() {
			count += h.GetPositiveDelta()[d]
			d++
			if count < 0 {
				t.Fatalf("bucket %d: negative count %d", index, count)
			}
			if count > 0 {
				out[index] = uint64(count)
			}
			index++
		}
	}
	if d != len(h.GetPositiveDelta()) {
		t.Fatalf("%d deltas for spans of %d buckets", len(h.GetPositiveDelta()), d)
	}
	return out
}

func TestNativeBucketsOfKnownSlots(t *testing.T) {
	var slots [Log2Slots]uint64
	slots[0], slots[1], slots[3], slots[4], slots[19], slots[26] = 3, 2, 5, 5, 1, 4
	h := &dto.Histogram{}
	setNative(h, slots[:])
	if h.GetSchema() != 0 || h.GetZeroThreshold() != 0x1p-19 || h.GetZeroCount() != 3 {
		t.Errorf("schema %d, zero threshold %g, zero count %d", h.GetSchema(), h.GetZeroThreshold(), h.GetZeroCount())
	}
	// Slot i's count is in bucket i-19; runs of buckets share a span.
	want := map[int]uint64{-18: 2, -16: 5, -15: 5, 0: 1, 7: 4}
	if got := nativeBuckets(t, h); !maps.Equal(got, want) {
		t.Errorf("buckets %v, want %v", got, want)
	}
	var spans []string
	for _, s := range h.PositiveSpan {
		spans = append(spans, fmt.Sprintf("%d:%d", s.GetOffset(), s.GetLength()))
	}
	if got := strings.Join(spans, "; "); got != "-18:1; 1:2; 14:1; 6:1" {
		t.Errorf("spans (offset:length) %s", got)
	}
	if got := h.GetPositiveDelta(); len(got) != 5 || got[0] != 2 || got[1] != 3 || got[2] != 0 || got[3] != -4 || got[4] != 3 {
		t.Errorf("deltas %v, want [2 3 0 -4 3]", got)
	}

	// client_golang's own encoding of the same buckets reads the same.
	positive := map[int]int64{}
	for k, v := range want {
		positive[k] = int64(v)
	}
	m, err := prometheus.NewConstNativeHistogram(prometheus.NewDesc("x", "x", nil, nil), 20, 1, positive, nil, 3, 0, 0x1p-19, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	var ref dto.Metric
	if err := m.Write(&ref); err != nil {
		t.Fatal(err)
	}
	if got := nativeBuckets(t, ref.Histogram); !maps.Equal(got, want) {
		t.Errorf("client_golang reads %v", got)
	}

	empty := &dto.Histogram{}
	setNative(empty, make([]uint64, Log2Slots))
	if len(empty.PositiveSpan) != 0 || empty.GetZeroCount() != 0 || empty.GetZeroThreshold() == 0 {
		t.Errorf("an empty histogram: %v (a zero threshold marks it native)", empty)
	}
}

// Each slot's native bucket holds the larger part of the slot (in log
// scale, as the bucket widths go), and its bounds are the slot's times
// 2^-20/1e-6; the zero bucket ends at slot 0's bound so scaled.
func TestNativeBucketHoldsMostOfItsSlot(t *testing.T) {
	const scale = 0x1p-20 / 1e-6
	for i := 1; i < Log2Slots-1; i++ {
		lo, hi := Log2UpperBound(i-1), Log2UpperBound(i) // the slot is [lo, hi)
		k := NativeIndex(i)
		nlo, nhi := math.Ldexp(1, k-1), math.Ldexp(1, k) // the bucket is (nlo, nhi]
		overlap := math.Log2(min(hi, nhi)) - math.Log2(max(lo, nlo))
		if overlap <= 0.5 {
			t.Errorf("slot %d [%g, %g): bucket %d (%g, %g] holds %.3f of it", i, lo, hi, k, nlo, nhi, overlap)
		}
		if math.Abs(nhi/hi-scale) > 1e-12 || math.Abs(nlo/lo-scale) > 1e-12 {
			t.Errorf("slot %d: bounds scaled by %g, %g, want %g", i, nlo/lo, nhi/hi, scale)
		}
	}
	if math.Abs(NativeZeroThreshold/Log2UpperBound(0)-scale) > 1e-12 {
		t.Errorf("zero threshold %g for slot 0's bound %g", NativeZeroThreshold, Log2UpperBound(0))
	}
}

// gatherHistograms gathers c's series of name through a registry, as a
// protobuf scrape and OTLP do.
func gatherHistograms(t *testing.T, c prometheus.Collector, name string) []*dto.Metric {
	t.Helper()
	for _, f := range gatherFamilies(t, c) {
		if f.GetName() == name {
			return f.Metric
		}
	}
	return nil
}

// checkNative checks one series' native fields against its classic ones
// and the slots it should hold.
func checkNative(t *testing.T, m *dto.Metric, slots []uint64) {
	t.Helper()
	h := m.GetHistogram()
	want := map[int]uint64{}
	var count uint64
	for i, v := range slots {
		count += v
		if i > 0 && v > 0 {
			want[NativeIndex(i)] = v
		}
	}
	got := nativeBuckets(t, h)
	if !maps.Equal(got, want) || h.GetZeroCount() != slots[0] || h.GetSampleCount() != count {
		t.Errorf("native buckets %v, zero %d, count %d; want %v, %d, %d", got, h.GetZeroCount(), h.GetSampleCount(), want, slots[0], count)
	}
	if len(h.Bucket) == 0 || h.Bucket[len(h.Bucket)-1].GetCumulativeCount() > count {
		t.Errorf("classic buckets %v", h.Bucket)
	}
}

// Native histograms go through aggregation like classic ones: summed per
// aggregate, monotonic when a workload goes; text scrapes stay classic.
func TestShaperNativeHistograms(t *testing.T) {
	c := &shapeCollector{workloads: []shapeWorkload{
		{w: pod("a-1", "app"), slots: []uint64{1, 2, 0, 4}},
		{w: pod("a-2", "app"), slots: []uint64{0, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 9}},
	}}
	yes := true
	for _, s := range []Shaping{
		{Aggregation: LevelOwner, Native: []string{"all"}},
		{Aggregation: LevelOwner, Families: map[string]FamilyShape{"orb8_shape_latency_seconds": {Native: &yes}}},
	} {
		w := NewShaper(s, owners, time.Minute).Wrap(c)
		got := gatherHistograms(t, w, "orb8_shape_latency_seconds")
		if len(got) != 1 {
			t.Fatalf("%d series at owner level", len(got))
		}
		sum := make([]uint64, Log2Slots)
		sum[0], sum[1], sum[3], sum[26] = 1, 5, 4, 9
		checkNative(t, got[0], sum)

		// a-1 goes away: what it counted stays.
		saved := c.workloads
		c.workloads = c.workloads[1:]
		checkNative(t, gatherHistograms(t, w, "orb8_shape_latency_seconds")[0], sum)
		c.workloads = saved
	}

	// A text scrape writes the same classic histogram with or without.
	native := scrapeText(t, NewShaper(Shaping{Native: []string{"orb8_shape_latency_seconds"}}, owners, time.Minute).Wrap(c))
	classic := scrapeText(t, c)
	section := func(text string) string {
		var out []string
		for _, l := range strings.Split(text, "\n") {
			if strings.Contains(l, "orb8_shape_latency_seconds") {
				out = append(out, l)
			}
		}
		return strings.Join(out, "\n")
	}
	if got, want := section(native), section(classic); got != want || !strings.Contains(got, "_bucket{") {
		t.Errorf("text with native histograms:\n%s\nwithout:\n%s", got, want)
	}
	// Without the setting, no native field.
	for _, m := range gatherHistograms(t, c, "orb8_shape_latency_seconds") {
		if m.Histogram.Schema != nil || m.Histogram.ZeroThreshold != nil {
			t.Errorf("native fields without the setting: %v", m.Histogram)
		}
	}
	// native: false in the file wins over --native-histograms all.
	no := false
	w := NewShaper(Shaping{Native: []string{"all"}, Families: map[string]FamilyShape{"orb8_shape_latency_seconds": {Native: &no}}}, owners, time.Minute).Wrap(c)
	for _, m := range gatherHistograms(t, w, "orb8_shape_latency_seconds") {
		if m.Histogram.ZeroThreshold != nil {
			t.Errorf("native: false ignored: %v", m.Histogram)
		}
	}
}

// Chosen classic buckets and native buckets together: the classic ones
// are the chosen few, the native ones every slot.
func TestShaperNativeWithChosenBuckets(t *testing.T) {
	slots := []uint64{1, 2, 4, 8}
	c := &shapeCollector{workloads: []shapeWorkload{{w: pod("a-1", "app"), slots: slots}}}
	s := Shaping{Native: []string{"all"}, Families: map[string]FamilyShape{"orb8_shape_latency_seconds": {Buckets: []float64{4e-6}}}}
	got := gatherHistograms(t, NewShaper(s, owners, time.Minute).Wrap(c), "orb8_shape_latency_seconds")
	if len(got) != 1 {
		t.Fatalf("%d series", len(got))
	}
	full := make([]uint64, Log2Slots)
	copy(full, slots)
	checkNative(t, got[0], full)
	if b := got[0].Histogram.Bucket; len(b) != 1 || b[0].GetUpperBound() != 4e-6 || b[0].GetCumulativeCount() != 3 {
		t.Errorf("classic buckets %v, want le=4e-06: 3", b)
	}
}

func TestShapingValidateNative(t *testing.T) {
	known := []string{"orb8_shape_execs_total", "orb8_shape_latency_seconds", "orb8_shape_const_seconds", "orb8_shape_plain"}
	yes := true
	for _, tc := range []struct {
		s    Shaping
		want string
	}{
		{Shaping{Native: []string{"orb8_nope"}}, `--native-histograms: unknown metric "orb8_nope"`},
		{Shaping{Native: []string{"orb8_shape_execs_total"}}, `--native-histograms: orb8_shape_execs_total: only log2 histograms can be native (`},
		{Shaping{Native: []string{"orb8_shape_const_seconds"}}, `only log2 histograms can be native (`},
		{Shaping{Families: map[string]FamilyShape{"orb8_shape_const_seconds": {Native: &yes}}}, `orb8_shape_const_seconds: native: only log2 histograms can be native (`},
		{Shaping{Families: map[string]FamilyShape{"orb8_shape_execs_total": {Native: &yes}}}, `native: only log2 histograms`},
		{Shaping{Families: map[string]FamilyShape{"orb8_shape_plain": {Native: &yes}}}, `not a per-workload family`},
	} {
		err := tc.s.Validate(known)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.s, err, tc.want)
		}
	}
	if err := (Shaping{Native: []string{"all", "orb8_shape_latency_seconds"}}).Validate(known); err != nil {
		t.Errorf("a log2 histogram: %v", err)
	}
	if msg := errNotLog2().Error(); !strings.Contains(msg, "orb8_shape_latency_seconds") || strings.Contains(msg, "orb8_shape_const_seconds") {
		t.Errorf("the error lists the wrong families: %s", msg)
	}
}

// FuzzNativeBuckets: any slot counts become native buckets that decode to
// exactly those counts at their slots' indexes.
func FuzzNativeBuckets(f *testing.F) {
	f.Add([]byte{3, 2, 0, 5, 5}, uint8(19))
	f.Add([]byte{}, uint8(0))
	f.Fuzz(func(t *testing.T, counts []byte, spread uint8) {
		slots := make([]uint64, Log2Slots)
		for i, c := range counts {
			slots[(i*int(spread|1))%Log2Slots] += uint64(c) << (i % 40)
		}
		h := &dto.Histogram{}
		setNative(h, slots)
		want := map[int]uint64{}
		for i, v := range slots[1:] {
			if v > 0 {
				want[NativeIndex(i+1)] = v
			}
		}
		if got := nativeBuckets(t, h); !maps.Equal(got, want) || h.GetZeroCount() != slots[0] {
			t.Fatalf("slots %v: buckets %v, zero %d", slots, got, h.GetZeroCount())
		}
	})
}
