package export_test

import (
	"context"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/export"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/testutil"
)

const (
	textAccept     = `text/plain;version=0.0.4`
	protobufAccept = `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited`
	openMetrics    = `application/openmetrics-text;version=1.0.0`
)

// requireClusterEverywhere fails unless every series of families carries
// cluster=name.
func requireClusterEverywhere(t *testing.T, format string, families map[string]*dto.MetricFamily, name string) {
	t.Helper()
	if len(families) == 0 {
		t.Fatalf("%s: no metric", format)
	}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			n := 0
			for _, l := range m.GetLabel() {
				if l.GetName() == export.ClusterLabel {
					n++
					if l.GetValue() != name {
						t.Errorf("%s: %s has cluster=%q, want %q", format, f.GetName(), l.GetValue(), name)
					}
				}
			}
			if n != 1 {
				t.Errorf("%s: a series of %s has %d cluster labels: %v", format, f.GetName(), n, m.GetLabel())
			}
		}
	}
}

// TestMetricsHandlerLabelsBothPathsWithCluster: with a cluster name, the
// text fast path and the registry path (protobuf, OpenMetrics, name[])
// give every series, capped ones' counter included, the same cluster
// label, and the same families otherwise.
func TestMetricsHandlerLabelsBothPathsWithCluster(t *testing.T) {
	collectors := []prometheus.Collector{workloadCounters{n: 5}, prometheus.NewGauge(prometheus.GaugeOpts{Name: "orb8_a_gauge", Help: "h"})}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors...)
	h := export.MetricsHandler(func() []prometheus.Collector { return collectors }, export.NewSeriesCap(reg, 3), "prod-eu")
	byFormat := map[string]map[string]*dto.MetricFamily{}
	for _, accept := range []string{textAccept, protobufAccept, openMetrics} {
		byFormat[accept] = scrapeFormat(t, h, accept)
		requireClusterEverywhere(t, accept, byFormat[accept], "prod-eu")
	}
	text, pb := byFormat[textAccept], byFormat[protobufAccept]
	if !slices.Equal(slices.Sorted(maps.Keys(text)), slices.Sorted(maps.Keys(pb))) || len(text) != 3 {
		t.Fatalf("text families %v, protobuf %v", slices.Sorted(maps.Keys(text)), slices.Sorted(maps.Keys(pb)))
	}
	for name, f := range text {
		// The dropped counter grows with each scrape.
		if name != export.DroppedMetricName && !proto.Equal(f, pb[name]) {
			t.Errorf("%s:\ntext     %v\nprotobuf %v", name, f, pb[name])
		}
	}
	if n := len(text["orb8_handler_test_total"].GetMetric()); n != 3 {
		t.Errorf("%d series of the capped metric, want 3", n)
	}
	if body := serve(t, h, "", "", "").body; !strings.Contains(string(body), `orb8_handler_test_total{cgroup="/w0",cluster="prod-eu",container="",namespace="",pod="",reason="exit"} 0`) {
		t.Errorf("text scrape:\n%s", body)
	}
	if body := serve(t, h, "", "", "?name[]=orb8_a_gauge").body; string(body) != "# HELP orb8_a_gauge h\n# TYPE orb8_a_gauge gauge\norb8_a_gauge{cluster=\"prod-eu\"} 0\n" {
		t.Errorf("name[] scrape through the registry:\n%s", body)
	}
}

// TestMetricsHandlerLeavesOutAClusterLabelOfItsOwn: a metric whose series
// have a cluster label already is left out of both paths (its label
// would be overwritten), and the rest are served.
func TestMetricsHandlerLeavesOutAClusterLabelOfItsOwn(t *testing.T) {
	own := prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "orb8_own_cluster", Help: "h"}, []string{"cluster"})
	own.WithLabelValues("x").Set(1)
	collectors := []prometheus.Collector{workloadCounters{n: 2}, own}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors...)
	h := export.MetricsHandler(func() []prometheus.Collector { return collectors }, export.NewSeriesCap(reg, 0), "a")
	for _, accept := range []string{textAccept, protobufAccept} {
		got := scrapeFormat(t, h, accept)
		if _, ok := got["orb8_own_cluster"]; ok || len(got["orb8_handler_test_total"].GetMetric()) != 2 {
			t.Errorf("%s: %v", accept, got)
		}
		requireClusterEverywhere(t, accept, got, "a")
	}
}

// TestClusterNameOnEveryScrapeFormat: an agent with --cluster-name labels
// every series of real probes on a text scrape (the exposition's fast
// path), a protobuf scrape with native histograms and an OpenMetrics one,
// with the exact counts of the execs made.
func TestClusterNameOnEveryScrapeFormat(t *testing.T) {
	const execs = 11
	a, labels := startNativeAgent(t, execs, "prod-eu")
	labels[export.ClusterLabel] = "prod-eu"
	for _, accept := range []string{textAccept, protobufAccept, openMetrics} {
		families := scrapeFormat(t, a.Handler(), accept)
		requireClusterEverywhere(t, accept, families, "prod-eu")
		h := histogramOf(t, families[execLatency], labels)
		if h.GetSampleCount() != execs {
			t.Errorf("%s: %s%v counted %d, want %d", accept, execLatency, labels, h.GetSampleCount(), execs)
		}
		if native := h.GetSchema() == series.NativeSchema && len(h.GetPositiveSpan()) > 0; native != (accept == protobufAccept) {
			t.Errorf("%s: native buckets %v", accept, native)
		}
	}
}

// TestOTLPCarriesClusterNameAsResource: OTLP names the cluster in the
// resource attribute k8s.cluster.name (OTel semantic conventions), not in
// a data point attribute.
func TestOTLPCarriesClusterNameAsResource(t *testing.T) {
	a := startAgent(t, agent.DefaultConfig())
	r := &receiver{}
	o := export.OTLP{Endpoint: r.ServeGRPC(t), Protocol: "grpc", Interval: 200 * time.Millisecond, Insecure: true, ClusterName: "prod-eu"}
	stop, err := export.StartOTLP(context.Background(), o, a.Gatherer(), quiet)
	if err != nil {
		t.Fatal(err)
	}
	defer stop(context.Background())
	cg := testutil.NewCgroup(t)
	const execs = 7
	for range execs {
		cg.Run(t, "/bin/true")
	}
	got := waitExecs(t, r, cg.Path, execs)
	if got.resource["k8s.cluster.name"] != "prod-eu" {
		t.Errorf("resource k8s.cluster.name = %q, want prod-eu (all: %v)", got.resource["k8s.cluster.name"], got.resource)
	}
	if _, ok := got.attrs[export.ClusterLabel]; ok {
		t.Errorf("data point attribute cluster beside the resource attribute: %v", got.attrs)
	}
}

func TestValidClusterName(t *testing.T) {
	for _, ok := range []string{"a", "prod-eu-1", "Lab_2", "eu.west", strings.Repeat("x", 63)} {
		if err := export.ValidClusterName(ok); err != nil {
			t.Errorf("%q: %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-a", "a-", ".a", "a b", `a"b`, "a/b", "ü", "a\nb", strings.Repeat("x", 64), "{a}"} {
		if err := export.ValidClusterName(bad); err == nil || !strings.Contains(err.Error(), "invalid cluster name") {
			t.Errorf("%q: error %v", bad, err)
		}
	}
}
