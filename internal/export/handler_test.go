package export_test

import (
	"bytes"
	"compress/gzip"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/export"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/testutil"
)

var (
	handlerTestMetrics series.Set
	handlerTestDesc    = handlerTestMetrics.Workload("orb8_handler_test_total", "A per-workload counter.", "reason")
)

// workloadCounters sends one series.Metric per workload, in reverse order.
type workloadCounters struct{ n int }

func (c workloadCounters) Describe(ch chan<- *prometheus.Desc) { handlerTestMetrics.Describe(ch) }

func (c workloadCounters) Collect(ch chan<- prometheus.Metric) {
	for i := c.n - 1; i >= 0; i-- {
		ch <- series.Metric(handlerTestDesc, prometheus.CounterValue, float64(i), cgroup.Workload{Path: fmt.Sprintf("/w%d", i)}, "exit")
	}
}

// countingGatherer counts the gathers that reach the registry.
type countingGatherer struct {
	prometheus.Gatherer
	n int
}

func (g *countingGatherer) Gather() ([]*dto.MetricFamily, error) {
	g.n++
	return g.Gatherer.Gather()
}

// response is what a scraper sees of one answer, body decompressed.
type response struct {
	status                      int
	contentType, encoding, vary string
	body                        []byte
}

func serve(t *testing.T, h http.Handler, accept, encoding, query string) response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics"+query, nil)
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	if encoding != "" {
		req.Header.Set("Accept-Encoding", encoding)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	r := response{status: rec.Code, contentType: rec.Header().Get("Content-Type"), encoding: rec.Header().Get("Content-Encoding"),
		vary: strings.Join(rec.Header().Values("Vary"), ","), body: rec.Body.Bytes()}
	if r.encoding == "gzip" {
		zr, err := gzip.NewReader(rec.Body)
		if err != nil {
			t.Fatal(err)
		}
		if r.body, err = io.ReadAll(zr); err != nil {
			t.Fatal(err)
		}
	}
	return r
}

// TestMetricsHandlerAnswersAsPromhttp: for every format and encoding a
// scraper may ask for, /metrics answers what the promhttp handler the agent
// had answers (headers and bytes), under a series cap, twice in a row (the
// dropped counter grows); a text scrape never gathers through the registry.
func TestMetricsHandlerAnswersAsPromhttp(t *testing.T) {
	const prometheus2 = "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
	const protobuf = "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3"
	collectors := []prometheus.Collector{workloadCounters{n: 5}, prometheus.NewGauge(prometheus.GaugeOpts{Name: "orb8_a_gauge", Help: "h"})}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors...)
	for _, accept := range []string{"", prometheus2, protobuf, "text/plain", "application/openmetrics-text; version=1.0.0"} {
		for _, encoding := range []string{"", "gzip", "gzip;q=0", "identity;q=0.5, gzip", "gzip;q=0.5, identity", "*", "deflate", "gzip, identity", "GZIP"} {
			for _, query := range []string{"", "?name[]=orb8_handler_test_total"} {
				counted := &countingGatherer{Gatherer: reg}
				h := export.MetricsHandler(func() []prometheus.Collector { return collectors }, export.NewSeriesCap(counted, 3), "")
				ref := promhttp.HandlerFor(export.NewSeriesCap(reg, 3), promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
				for round := range 2 {
					got, want := serve(t, h, accept, encoding, query), serve(t, ref, accept, encoding, query)
					if got.status != want.status || got.contentType != want.contentType || got.encoding != want.encoding ||
						got.vary != want.vary || !bytes.Equal(got.body, want.body) {
						t.Fatalf("Accept %q, Accept-Encoding %q, query %q, round %d:\ngot  %d %q %q %q\n%s\nwant %d %q %q %q\n%s", accept, encoding, query, round,
							got.status, got.contentType, got.encoding, got.vary, got.body, want.status, want.contentType, want.encoding, want.vary, want.body)
					}
				}
				if text := strings.HasPrefix(string(expfmt.NegotiateAccept(http.Header{"Accept": {accept}}, expfmt.DefaultAcceptedFormats()...)), "text/plain"); text && query == "" && counted.n != 0 {
					t.Errorf("Accept %q: a text scrape gathered through the registry", accept)
				}
			}
		}
	}
	text := serve(t, export.MetricsHandler(func() []prometheus.Collector { return collectors }, export.NewSeriesCap(reg, 3), ""), "", "gzip", "")
	if !bytes.Contains(text.body, []byte(`orb8_series_dropped_total{metric="orb8_handler_test_total"} 2`)) || text.encoding != "gzip" {
		t.Errorf("a capped gzip scrape:\n%s", text.body)
	}
}

// TestAgentMetricsMatchRegistry: on real probes, each per-workload series of
// three test cgroups reads the same on /metrics (written by the exposition)
// as in the registry (client_golang).
func TestAgentMetricsMatchRegistry(t *testing.T) {
	a := startAgent(t, agent.DefaultConfig())
	var paths []string
	for range 3 {
		cg := testutil.NewCgroup(t)
		cg.Run(t, "/bin/true")
		paths = append(paths, cg.Path)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		v, _ := testutil.Sample(t, a.Gatherer(), "orb8_process_exec_total", map[string]string{"cgroup": paths[2]})
		return v == 1
	}, "no exec counted for %s", paths[2])

	srv := httptest.NewServer(a.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	parser := expfmt.NewTextParser(model.UTF8Validation)
	scraped, err := parser.TextToMetricFamilies(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	gathered, err := a.Gatherer().Gather()
	if err != nil {
		t.Fatal(err)
	}
	compared := 0
	for _, f := range gathered {
		if !strings.HasPrefix(f.GetName(), "orb8_process_") {
			continue
		}
		want, got := seriesIn(f, paths), seriesIn(scraped[f.GetName()], paths)
		if !slices.Equal(got, want) {
			t.Errorf("%s:\n/metrics  %q\nregistry %q", f.GetName(), got, want)
		}
		compared += len(want)
	}
	if compared != 3*7 {
		t.Errorf("compared %d series, want the 7 process series of each of 3 cgroups", compared)
	}
}

// seriesIn renders the family's series of the given cgroups, one string each.
func seriesIn(f *dto.MetricFamily, paths []string) []string {
	var out []string
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if l.GetName() == "cgroup" && slices.Contains(paths, l.GetValue()) {
				out = append(out, m.String())
			}
		}
	}
	return out
}
