package export_test

import (
	"fmt"
	"net/http/httptest"
	"os"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/export"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/testutil"
)

// benchDeployments names the bench cgroups under a parent as the pods of
// 100 Deployments in namespace "bench" (w0042 is pod d042-00042 of
// Deployment d042), and is their owner index. Like kube.Index it names
// a cgroup with one map lookup, its names made once.
type benchDeployments struct{ pods map[string]benchPod }

type benchPod struct{ namespace, pod, container string }

func newBenchDeployments(parent string, n int) benchDeployments {
	d := benchDeployments{pods: make(map[string]benchPod, n)}
	for i := range n {
		d.pods[fmt.Sprintf("%s/w%04d", parent, i)] = benchPod{"bench", fmt.Sprintf("d%03d-%05d", i%100, i), "app"}
	}
	return d
}

func (d benchDeployments) Enrich(w cgroup.Workload) cgroup.Workload {
	if p, ok := d.pods[w.Path]; ok {
		w.Namespace, w.Pod, w.Container = p.namespace, p.pod, p.container
	}
	return w
}

func (benchDeployments) PodOwner(_, pod string) (string, string, series.OwnerState) {
	if name, _, ok := strings.Cut(pod, "-"); ok {
		return "Deployment", name, series.OwnerKnown
	}
	return "", "", series.OwnerUnknown
}

func (benchDeployments) Version() uint64 { return 1 }

// BenchmarkAggregationLevels is the cost of each aggregation level: one
// agent with the default probes tracks real cgroups named as the pods of
// 100 Deployments, and /metrics is served at each level by a shaper over
// its collectors, as `orb8 agent --aggregation LEVEL` serves it. Two
// scenes: 10,000 live pods with one exec each, and a churn of 3,000 pods
// that each exec once and are gone at once (their series kept for the
// 5-minute grace period). Reported per level: wall and CPU time per scrape
// (text, gzip; the median wall time too, which a background refresh that
// coincides with a few scrapes moves less), samples, gzip bytes, and the live heap of the whole
// process after the level's scrapes (the agent with its shaping state:
// comparable between levels when each runs in a process of its own, as
// with -bench 'AggregationLevels/10000pods/owner$'). Run as root:
//
//	go test ./internal/export -run '^$' -bench AggregationLevels -benchtime 10x -timeout 30m
func BenchmarkAggregationLevels(b *testing.B) {
	testutil.RequireRoot(b)
	for _, scene := range []struct {
		name  string
		n     int
		churn bool
	}{{"10000pods", 10000, false}, {"churn3000", 3000, true}} {
		b.Run(scene.name, func(b *testing.B) { benchLevels(b, scene.n, scene.churn) })
	}
}

func benchLevels(b *testing.B, n int, churn bool) {
	parent, dirs := makeWorkloads(b, n)
	a, err := agent.New(agent.DefaultConfig(), quiet)
	if err != nil {
		b.Fatal(err)
	}
	names := newBenchDeployments(parent, n)
	a.Resolver().SetEnricher(names)
	a.Start(b.Context())
	for _, dir := range dirs {
		if err := runIn(dir, "/bin/true"); err != nil {
			b.Fatal(err)
		}
		if churn {
			for os.Remove(dir) != nil {
				time.Sleep(time.Millisecond)
			}
		}
	}
	testutil.Eventually(b, 20*time.Second, func() bool { return countExecs(b, a, parent) == n },
		"not all %d workloads exported", n)
	for _, level := range series.Levels() {
		benchLevel(b, a, names, level)
	}
	a.Close()
}

// benchLevel serves a's collectors at level and times its scrapes; what
// it built is garbage once it returns, for the next level's heap figure.
// liveHeap is the heap in use after two collections (pooled objects too
// are gone after the second).
func liveHeap() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func benchLevel(b *testing.B, a *agent.Agent, names benchDeployments, level string) {
	l, _ := series.ParseLevel(level)
	shaper := series.NewShaper(series.Shaping{Aggregation: l}, names, 5*time.Minute)
	reg := prometheus.NewRegistry()
	var shaped []prometheus.Collector
	for _, c := range a.Collectors() {
		s := shaper.Wrap(c)
		reg.MustRegister(s)
		shaped = append(shaped, s)
	}
	srv := httptest.NewServer(export.MetricsHandler(func() []prometheus.Collector { return shaped }, export.NewSeriesCap(reg, 0), ""))
	defer srv.Close()
	url := srv.URL + "/metrics"
	b.Run(level, func(b *testing.B) {
		var gz []byte
		var walls []time.Duration
		cpu := cpuTime()
		for b.Loop() {
			start := time.Now()
			gz = scrape(b, url)
			walls = append(walls, time.Since(start))
		}
		b.ReportMetric(float64(cpuTime()-cpu)/float64(b.N)/1e6, "cpu-ms/op")
		slices.Sort(walls)
		b.ReportMetric(float64(walls[len(walls)/2])/1e6, "median-ms")
		_, samples := exposition(b, gz)
		b.ReportMetric(float64(samples), "samples")
		b.ReportMetric(float64(len(gz)), "gzip-bytes")
		b.ReportMetric(float64(liveHeap())/1e6, "heap-MB")
	})
}
