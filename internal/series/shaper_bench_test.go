package series

import (
	"fmt"
	"io"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/cgroup"
)

// versioned are testOwners that say when they change, like kube.Index.
type versioned struct{ testOwners }

func (versioned) Version() uint64 { return 1 }

// benchPods are n pods of n/100 Deployments, one container each.
func benchPods(n int) ([]shapeWorkload, versioned) {
	ws := make([]shapeWorkload, n)
	o := testOwners{}
	for i := range ws {
		pod := fmt.Sprintf("d%03d-%05d", i%100, i)
		ws[i] = shapeWorkload{w: cgroup.Workload{Namespace: "bench", Pod: pod, Container: "app", Path: "/kubepods/pod" + pod + "/app"}, execs: float64(i)}
		o["bench/"+pod] = [2]string{"Deployment", fmt.Sprintf("d%03d", i%100)}
	}
	return ws, versioned{o}
}

// processLike emits what the process probe does per workload: 7 series,
// as samples or (rows set) through Rows, as the process probe does.
type processLike struct {
	workloads []shapeWorkload
	rows      bool
}

func (c *processLike) Describe(ch chan<- *prometheus.Desc) { shapeSet.Describe(ch) }

func (c *processLike) Collect(ch chan<- prometheus.Metric) {
	if c.rows {
		rows := RowsTo(ch)
		for _, sw := range c.workloads {
			r := rows.Row(sw.w)
			r.Send(shapeExecs, prometheus.CounterValue, sw.execs)
			r.Send(shapeBytes, prometheus.CounterValue, sw.execs, "tx", "tcp")
			r.Send(shapeBytes, prometheus.CounterValue, sw.execs, "rx", "tcp")
			r.Send(shapeBytes, prometheus.CounterValue, sw.execs, "tx", "udp")
			r.Send(shapeBytes, prometheus.CounterValue, sw.execs, "rx", "udp")
			r.Send(shapeRunning, prometheus.GaugeValue, 1)
			r.Send(shapeETA, prometheus.GaugeValue, 1)
			r.Done()
		}
		return
	}
	for _, sw := range c.workloads {
		r := NewRow(sw.w)
		ch <- r.Metric(shapeExecs, prometheus.CounterValue, sw.execs)
		ch <- r.Metric(shapeBytes, prometheus.CounterValue, sw.execs, "tx", "tcp")
		ch <- r.Metric(shapeBytes, prometheus.CounterValue, sw.execs, "rx", "tcp")
		ch <- r.Metric(shapeBytes, prometheus.CounterValue, sw.execs, "tx", "udp")
		ch <- r.Metric(shapeBytes, prometheus.CounterValue, sw.execs, "rx", "udp")
		ch <- r.Metric(shapeRunning, prometheus.GaugeValue, 1)
		ch <- r.Metric(shapeETA, prometheus.GaugeValue, 1)
	}
}

// BenchmarkShape10000Pods is the cost of a text scrape of 7 series for
// each of 10,000 pods, as collected and at each level, and the heap the
// level's shaping state holds (what it keeps between collections).
func BenchmarkShape10000Pods(b *testing.B) { benchShape(b, false) }

// BenchmarkShape10000PodsRows is BenchmarkShape10000Pods with the series
// sent through Rows, as the probes send them.
func BenchmarkShape10000PodsRows(b *testing.B) { benchShape(b, true) }

func benchShape(b *testing.B, rows bool) {
	ws, o := benchPods(10000)
	c := &processLike{workloads: ws, rows: rows}
	for _, level := range Levels() {
		l, _ := ParseLevel(level)
		before := heapBytes()
		w := NewShaper(Shaping{Aggregation: l}, o, time.Minute).Wrap(c)
		if _, err := Gather([]prometheus.Collector{w}); err != nil {
			b.Fatal(err)
		}
		held := heapBytes() - before
		b.Run(level, func(b *testing.B) {
			benchText(b, w)
			b.ReportMetric(float64(held)/1e6, "state-MB")
		})
	}
}

// benchText times text scrapes of c (collection, gathering, the text; no
// compression) and reports their CPU time.
func benchText(b *testing.B, c prometheus.Collector) {
	cpu := processCPU(b)
	for b.Loop() {
		e, err := Gather([]prometheus.Collector{c})
		if err != nil {
			b.Fatal(err)
		}
		if err := e.WriteText(io.Discard, expfmt.NewFormat(expfmt.TypeTextPlain)); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N)/1e6, "cpu-ms/op")
}

// BenchmarkText10000PodsRows is a text scrape of those pods' series with
// no shaper, sent through Rows as the probes send them: collection,
// gathering and the text, no compression. Like the probes it sends them
// in label order.
func BenchmarkText10000PodsRows(b *testing.B) {
	ws, _ := benchPods(10000)
	slices.SortFunc(ws, func(a, b shapeWorkload) int { return CompareWorkloads(&a.w, &b.w) })
	benchText(b, &processLike{workloads: ws, rows: true})
}

// BenchmarkCollect10000PodsDiscarded is the floor under any shaping of
// them: the collection alone, every sample left out.
func BenchmarkCollect10000PodsDiscarded(b *testing.B) {
	ws, o := benchPods(10000)
	w := NewShaper(Shaping{Disable: []string{"all"}}, o, time.Minute).Wrap(&processLike{workloads: ws})
	cpu := processCPU(b)
	for b.Loop() {
		if _, err := Gather([]prometheus.Collector{w}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(processCPU(b)-cpu)/float64(b.N)/1e6, "cpu-ms/op")
}

// processCPU is the CPU time this process used so far: on a shared
// machine a steadier measure of cost than wall time.
func processCPU(b *testing.B) time.Duration {
	var ru unix.Rusage
	if err := unix.Getrusage(unix.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// heapBytes is the live heap: two collections, so that pooled objects
// (their victim cache) are gone too.
func heapBytes() int64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return int64(m.HeapAlloc)
}
