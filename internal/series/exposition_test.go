package series

import (
	"bytes"
	"errors"
	"math"
	"net/http"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/orb8/orb8/internal/cgroup"
)

var (
	testSet Set
	// Extra labels that sort after all workload labels, and between them.
	exitTestDesc  = testSet.Workload("orb8_test_exit_total", "Help with a \\ backslash\nand a newline.", "reason")
	bytesTestDesc = testSet.Workload("orb8_test_bytes", "A gauge.", "direction")
	latTestDesc   = testSet.Workload("orb8_test_latency_seconds", "A histogram.")
	untypedDesc   = testSet.Workload("orb8_test_untyped", "")
	uncheckedDesc = testSet.Workload("orb8_test_unchecked", "Sent by a collector that describes nothing.")
)

// Workloads with every character the text format escapes, UTF-8 and empty labels.
var (
	wQuote = cgroup.Workload{Namespace: "ns", Pod: `p"q`, Container: `c\d`, Path: "/a\nb"}
	wUTF8  = cgroup.Workload{Namespace: "ns", Pod: "p", Container: "ü", Path: "/ü/x"}
	wBare  = cgroup.Workload{Path: "/z"}
	wA     = cgroup.Workload{Path: "/a"}
	// Values of 32 bytes and more, searched by another path.
	wLong = cgroup.Workload{Namespace: "ns", Pod: `pod-with-a-long-name-and-a-"quote"`, Container: `container\with-a-backslash-after-32-bytes`,
		Path: "/kubepods.slice/kubepods-pod1234.slice/cri-containerd-0123.scope\n"}
)

// emitted is one series of a test collector.
type emitted struct {
	desc  *Desc
	kind  prometheus.ValueType // zero for a histogram
	value float64
	hist  *Log2Hist
	w     cgroup.Workload
	extra []string
	// asConst sends it as a client_golang const metric even from a fast emitter.
	asConst bool
}

// metric is the series as a probe sends it (fast) or as the client_golang
// const metric it stands for.
func (p emitted) metric(fast bool) prometheus.Metric {
	labels := append(p.w.LabelValues(), p.extra...)
	switch {
	case fast && p.hist != nil:
		return Histogram(p.desc, p.hist, p.w, p.extra...)
	case fast:
		return Metric(p.desc, p.kind, p.value, p.w, p.extra...)
	case p.hist != nil:
		count, buckets := p.hist.Buckets()
		return prometheus.MustNewConstHistogram(p.desc.Desc, count, p.hist.Seconds(), buckets, labels...)
	}
	return prometheus.MustNewConstMetric(p.desc.Desc, p.kind, p.value, labels...)
}

// emitter is a collector of points; panicAfter > 0 panics after that many.
type emitter struct {
	descs      []*prometheus.Desc
	points     []emitted
	fast       bool
	panicAfter int
	// rows makes fast points through one Row per workload, as probes do;
	// sent sends them on the rows of RowsTo, a workload's points together;
	// split sends every other one of a row's points on the channel
	// instead, as a sample, while the rows go on.
	rows, sent, split bool
}

func (e *emitter) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range e.descs {
		ch <- d
	}
}

func (e *emitter) Collect(ch chan<- prometheus.Metric) {
	if e.sent {
		e.send(ch)
		return
	}
	rows := map[cgroup.Workload]*Row{}
	for i, p := range e.points {
		if i == e.panicAfter && i > 0 {
			panic("collector broke")
		}
		if !e.rows || !e.fast || p.asConst {
			ch <- p.metric(e.fast && !p.asConst)
			continue
		}
		r := rows[p.w]
		if r == nil {
			r = NewRow(p.w)
			rows[p.w] = r
		}
		if p.hist != nil {
			ch <- r.Histogram(p.desc, p.hist, p.extra...)
		} else {
			ch <- r.Metric(p.desc, p.kind, p.value, p.extra...)
		}
	}
}

// send sends the fast points as probes send rows: RowsTo, a row per
// workload, Send and SendHistogram, Done.
func (e *emitter) send(ch chan<- prometheus.Metric) {
	var order []cgroup.Workload
	byWorkload := map[cgroup.Workload][]emitted{}
	for _, p := range e.points {
		if !e.fast || p.asConst {
			ch <- p.metric(e.fast && !p.asConst)
			continue
		}
		if byWorkload[p.w] == nil {
			order = append(order, p.w)
		}
		byWorkload[p.w] = append(byWorkload[p.w], p)
	}
	rs := RowsTo(ch)
	for _, w := range order {
		r := rs.Row(w)
		for i, p := range byWorkload[w] {
			if e.split && i%2 == 1 {
				ch <- p.metric(true)
				continue
			}
			if p.hist != nil {
				r.SendHistogram(p.desc, p.hist, p.extra...)
			} else {
				r.Send(p.desc, p.kind, p.value, p.extra...)
			}
		}
		r.Done()
	}
}

func hist(slots map[int]uint64, sumNs uint64) *Log2Hist {
	h := &Log2Hist{SumNs: sumNs}
	for i, v := range slots {
		h.Slots[i] = v
	}
	return h
}

// testCollectors are per-workload metrics of every type, emitted out of
// order, with client_golang metrics whose names sort between them.
func testCollectors(fast bool) []prometheus.Collector {
	c := func(v float64, w cgroup.Workload, reason string) emitted {
		return emitted{desc: exitTestDesc, kind: prometheus.CounterValue, value: v, w: w, extra: []string{reason}}
	}
	g := func(v float64, w cgroup.Workload, dir string) emitted {
		return emitted{desc: bytesTestDesc, kind: prometheus.GaugeValue, value: v, w: w, extra: []string{dir}}
	}
	h := func(hh *Log2Hist, w cgroup.Workload) emitted { return emitted{desc: latTestDesc, hist: hh, w: w} }
	plain := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orb8_test_c_plain", Help: "Between the workload metrics."}, []string{"probe"})
	plain.WithLabelValues("x").Set(2)
	first := prometheus.NewGauge(prometheus.GaugeOpts{Name: "aaa_first", Help: "Before them."})
	last := prometheus.NewCounter(prometheus.CounterOpts{Name: "zzz_last_total", Help: "After them."})
	last.Add(3)
	return []prometheus.Collector{
		&emitter{fast: fast, descs: []*prometheus.Desc{exitTestDesc.Desc, bytesTestDesc.Desc}, points: []emitted{
			c(3, wBare, "signal"), c(1, wQuote, "exit"), c(0, wQuote, "signal"), c(12345678901, wUTF8, "exit"), c(1, wA, "exit"), c(2, wLong, "exit"),
			g(0, wA, "rx"), g(math.Copysign(0, -1), wA, "tx"), g(-1, wBare, "rx"), g(1.5, wBare, "tx"), g(1e21, wUTF8, "rx"),
			g(math.NaN(), wQuote, "rx"), g(math.Inf(1), wQuote, "tx"), g(math.Inf(-1), wUTF8, "tx"),
		}},
		&emitter{fast: fast, descs: []*prometheus.Desc{latTestDesc.Desc, untypedDesc.Desc}, points: []emitted{
			h(hist(map[int]uint64{0: 3, 10: 2, Log2Slots - 1: 1}, 5_001_500_000), wUTF8),
			h(hist(nil, 0), wA),
			h(hist(map[int]uint64{5: 1 << 40}, 123), wQuote),
			{desc: untypedDesc, kind: prometheus.UntypedValue, value: 7, w: wA},
		}},
		&emitter{fast: fast, points: []emitted{{desc: uncheckedDesc, kind: prometheus.GaugeValue, value: 4, w: wA}}},
		plain, first, last,
	}
}

var textFormat = expfmt.NegotiateAccept(http.Header{}, expfmt.DefaultAcceptedFormats()...)

// registryText is what promhttp writes for collectors.
func registryText(t *testing.T, collectors []prometheus.Collector) []byte {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors...)
	return gathererText(t, reg)
}

// gathererText is what promhttp writes for g.
func gathererText(t *testing.T, g prometheus.Gatherer) []byte {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	enc := expfmt.NewEncoder(&out, textFormat)
	for _, f := range families {
		if err := enc.Encode(f); err != nil {
			t.Fatal(err)
		}
	}
	return out.Bytes()
}

// TestExpositionWritesWhatTheRegistryWrites: the same series as client_golang
// const metrics through a registry and the text encoder, and as collected
// samples (made by Metric and Histogram, by a Row, or sent on rows, which
// the exposition takes whole, or some sent on rows and the others on the
// channel at the same time) through the exposition, come out byte for byte
// the same.
func TestExpositionWritesWhatTheRegistryWrites(t *testing.T) {
	for _, via := range []string{"metric", "row", "sent", "split"} {
		collectors := testCollectors(true)
		for _, c := range collectors {
			if e, ok := c.(*emitter); ok {
				e.rows, e.sent, e.split = via == "row", via == "sent" || via == "split", via == "split"
			}
		}
		t.Run(via, func(t *testing.T) { testExpositionText(t, collectors) })
	}
}

func testExpositionText(t *testing.T, collectors []prometheus.Collector) {
	want := registryText(t, testCollectors(false))
	e, err := Gather(collectors)
	if err != nil {
		t.Fatal(err)
	}
	if len(e.workload) != 4 {
		t.Fatalf("%d per-workload metrics took the fast path, want 4 (all but the undescribed one)", len(e.workload))
	}
	var got bytes.Buffer
	if err := e.WriteText(&got, textFormat); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("exposition differs from the registry's:\n--- exposition\n%s\n--- registry\n%s", got.Bytes(), want)
	}
	parser := expfmt.NewTextParser(model.UTF8Validation)
	families, err := parser.TextToMetricFamilies(&got)
	if err != nil {
		t.Fatal(err)
	}
	for name, series := range map[string]int{"orb8_test_exit_total": 6, "orb8_test_bytes": 8, "orb8_test_latency_seconds": 3,
		"orb8_test_untyped": 1, "orb8_test_unchecked": 1, "orb8_test_c_plain": 1, "aaa_first": 1, "zzz_last_total": 1} {
		if n := len(families[name].GetMetric()); n != series {
			t.Errorf("%s: %d series, want %d", name, n, series)
		}
	}
	if len(families) != 8 {
		t.Errorf("%d families, want 8", len(families))
	}
}

// TestExpositionCapKeepsRegistryOrder: the cap keeps the first series in
// the order the registry sorts them, whatever the emit order.
func TestExpositionCapKeepsRegistryOrder(t *testing.T) {
	e, err := Gather(testCollectors(true))
	if err != nil {
		t.Fatal(err)
	}
	capped := map[string]int{}
	e.Cap(func(name string, n int) int {
		capped[name] = n
		return min(n, 2)
	})
	var got bytes.Buffer
	if err := e.WriteText(&got, textFormat); err != nil {
		t.Fatal(err)
	}
	if capped["orb8_test_exit_total"] != 6 || capped["orb8_test_bytes"] != 8 {
		t.Errorf("cap saw %v", capped)
	}
	var lines []string
	for _, l := range strings.Split(got.String(), "\n") {
		if strings.HasPrefix(l, "orb8_test_exit_total{") {
			lines = append(lines, l)
		}
	}
	// cgroup sorts first: "/a" < "/a\nb" < "/z" < "/ü/x".
	want := []string{
		`orb8_test_exit_total{cgroup="/a",container="",namespace="",pod="",reason="exit"} 1`,
		`orb8_test_exit_total{cgroup="/a\nb",container="c\\d",namespace="ns",pod="p\"q",reason="exit"} 1`,
	}
	if strings.Join(lines, "\n") != strings.Join(want, "\n") {
		t.Errorf("kept\n%s\nwant\n%s", strings.Join(lines, "\n"), strings.Join(want, "\n"))
	}
}

// TestExpositionLeavesToTheRegistry: what the exposition cannot reproduce
// (two series with the same labels, a metric also sent as a client_golang
// metric, a metric of two types) goes back to the registry, which reports
// it; a collector's panic is reported as the registry reports it.
func TestExpositionLeavesToTheRegistry(t *testing.T) {
	dup := emitted{desc: exitTestDesc, kind: prometheus.CounterValue, value: 1, w: wA, extra: []string{"exit"}}
	descs := []*prometheus.Desc{exitTestDesc.Desc}
	for name, c := range map[string]prometheus.Collector{
		"duplicate series": &emitter{fast: true, descs: descs, points: []emitted{dup, dup}},
		"mixed metric": &emitter{fast: true, descs: descs, points: []emitted{
			dup, {desc: exitTestDesc, kind: prometheus.CounterValue, w: wBare, extra: []string{"exit"}, asConst: true}}},
		"two types": &emitter{fast: true, descs: descs, points: []emitted{
			dup, {desc: exitTestDesc, kind: prometheus.GaugeValue, w: wBare, extra: []string{"exit"}}}},
	} {
		if _, err := Gather([]prometheus.Collector{c}); !errors.Is(err, ErrUseRegistry) {
			t.Errorf("%s: Gather error %v, want ErrUseRegistry", name, err)
		}
	}
	broken := &emitter{fast: true, descs: descs, panicAfter: 1, points: []emitted{dup, dup}}
	e, err := Gather([]prometheus.Collector{broken, prometheus.NewGauge(prometheus.GaugeOpts{Name: "ok", Help: "h"})})
	if err == nil || errors.Is(err, ErrUseRegistry) || !strings.Contains(err.Error(), "collector broke") || len(e.Rest) != 1 {
		t.Errorf("panicking collector: error %v, %d other families", err, len(e.Rest))
	}
}

// rowThenPanic sends one row, then panics.
type rowThenPanic struct{}

func (rowThenPanic) Describe(ch chan<- *prometheus.Desc) { ch <- exitTestDesc.Desc }

func (rowThenPanic) Collect(ch chan<- prometheus.Metric) {
	r := RowsTo(ch).Row(wA)
	r.Send(exitTestDesc, prometheus.CounterValue, 1, "exit")
	r.Done()
	panic("collector broke")
}

// TestExpositionKeepsRowsOfAPanickingCollector: what a collector sent as
// rows before it panicked is written, as the registry keeps it.
func TestExpositionKeepsRowsOfAPanickingCollector(t *testing.T) {
	want := gathererText(t, prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) {
		reg := prometheus.NewRegistry()
		reg.MustRegister(rowThenPanic{})
		families, _ := reg.Gather() // reports the panic, keeps the row
		return families, nil
	}))
	e, err := Gather([]prometheus.Collector{rowThenPanic{}})
	if err == nil || !strings.Contains(err.Error(), "collector broke") {
		t.Fatalf("Gather error %v, want the panic", err)
	}
	var got bytes.Buffer
	if err := e.WriteText(&got, textFormat); err != nil {
		t.Fatal(err)
	}
	if len(want) == 0 || !bytes.Equal(got.Bytes(), want) {
		t.Fatalf("exposition:\n%s\nregistry:\n%s", got.Bytes(), want)
	}
}

// TestMetricPanicsOnInvalidUTF8 as client_golang's const metric does.
func TestMetricPanicsOnInvalidUTF8(t *testing.T) {
	defer func() {
		if r := recover(); r == nil {
			t.Error("no panic for a label value that is not UTF-8")
		}
	}()
	Metric(exitTestDesc, prometheus.CounterValue, 1, cgroup.Workload{Path: "/\xff"}, "exit")
}

// TestRowPanicsOnInvalidUTF8 as Metric does, in workload and extra labels.
func TestRowPanicsOnInvalidUTF8(t *testing.T) {
	for name, build := range map[string]func(){
		"workload": func() {
			NewRow(cgroup.Workload{Path: "/\xff"}).Metric(exitTestDesc, prometheus.CounterValue, 1, "exit")
		},
		"extra": func() { NewRow(wA).Metric(exitTestDesc, prometheus.CounterValue, 1, "\xff") },
	} {
		func() {
			defer func() {
				if r := recover(); r == nil {
					t.Errorf("%s: no panic for a label value that is not UTF-8", name)
				}
			}()
			build()
		}()
	}
}
