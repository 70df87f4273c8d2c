package export_test

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/probes/cgroups"
	"github.com/orb8/orb8/internal/probes/syscalls"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/testutil"
)

const execLatency = "orb8_syscall_latency_seconds"

// startNativeAgent runs the syscalls probe timing execve, its latency a
// native histogram, and makes execs execve calls in a test cgroup (each
// run of /bin/true is one, made in the cgroup: testutil.Cgroup.Command);
// cluster is its --cluster-name.
func startNativeAgent(t *testing.T, execs int, cluster string) (*agent.Agent, map[string]string) {
	t.Helper()
	testutil.RequireRoot(t)
	cfg := agent.DefaultConfig()
	cfg.Probes = []string{cgroups.Name, syscalls.Name}
	cfg.Syscalls = syscalls.Options{Syscalls: []string{"execve"}}
	cfg.NativeHistograms = []string{execLatency}
	cfg.ClusterName = cluster
	a, err := agent.New(cfg, quiet)
	if err != nil {
		t.Fatal(err)
	}
	a.Start(context.Background())
	t.Cleanup(func() { a.Close() })
	cg := testutil.NewCgroup(t)
	for range execs {
		cg.Run(t, "/bin/true")
	}
	labels := map[string]string{"cgroup": cg.Path, "syscall": "execve"}
	testutil.Eventually(t, 10*time.Second, func() bool {
		h := testutil.Histogram(t, a.Gatherer(), execLatency, labels)
		return h.GetSampleCount() == uint64(execs)
	}, "%s%v never counted the %d execs", execLatency, labels, execs)
	return a, labels
}

// scrapeFormat gets /metrics with Accept: accept and decodes it.
func scrapeFormat(t *testing.T, h http.Handler, accept string) map[string]*dto.MetricFamily {
	t.Helper()
	srv := httptest.NewServer(h)
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodGet, srv.URL+"/metrics", nil)
	req.Header.Set("Accept", accept)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	dec := expfmt.NewDecoder(resp.Body, expfmt.ResponseFormat(resp.Header))
	out := map[string]*dto.MetricFamily{}
	for {
		var f dto.MetricFamily
		if err := dec.Decode(&f); errors.Is(err, io.EOF) {
			return out
		} else if err != nil {
			t.Fatalf("decode %s: %v", resp.Header.Get("Content-Type"), err)
		}
		out[f.GetName()] = &f
	}
}

// histogramOf is the series of f with labels.
func histogramOf(t *testing.T, f *dto.MetricFamily, labels map[string]string) *dto.Histogram {
	t.Helper()
	g := prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return []*dto.MetricFamily{f}, nil })
	return testutil.Histogram(t, g, f.GetName(), labels)
}

// TestNativeHistogramOnProtobufScrape: a protobuf scrape (what Prometheus
// asks for with native histograms on) gets the execve latency as a native
// histogram of exactly the calls made, beside classic buckets of the same
// counts; a text scrape gets the classic histogram alone.
func TestNativeHistogramOnProtobufScrape(t *testing.T) {
	const execs = 13
	a, labels := startNativeAgent(t, execs, "")
	proto := histogramOf(t, scrapeFormat(t, a.Handler(), `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited`)[execLatency], labels)
	text := histogramOf(t, scrapeFormat(t, a.Handler(), `text/plain;version=0.0.4`)[execLatency], labels)
	if proto == nil || text == nil {
		t.Fatalf("no %s%v: protobuf %v, text %v", execLatency, labels, proto, text)
	}
	if proto.GetSchema() != series.NativeSchema || proto.GetZeroThreshold() != series.NativeZeroThreshold {
		t.Errorf("schema %d, zero threshold %g", proto.GetSchema(), proto.GetZeroThreshold())
	}
	// Classic bucket i is the cumulative count of slots 0..i; native
	// bucket NativeIndex(i) holds slot i, the zero bucket slot 0.
	var native, prev int64
	at, d := 0, 0
	byIndex := map[int]uint64{}
	for _, s := range proto.GetPositiveSpan() {
		at += int(s.GetOffset())
		for range s.GetLength() {
			prev += proto.GetPositiveDelta()[d]
			byIndex[at] = uint64(prev)
			native += prev
			at, d = at+1, d+1
		}
	}
	if total := uint64(native) + proto.GetZeroCount(); total != execs || proto.GetSampleCount() != execs {
		t.Errorf("native buckets hold %d, count %d; want the %d execs", total, proto.GetSampleCount(), execs)
	}
	var below uint64
	for i, b := range proto.GetBucket() {
		slot := b.GetCumulativeCount() - below
		below = b.GetCumulativeCount()
		if i == 0 && slot != proto.GetZeroCount() || i > 0 && slot != byIndex[series.NativeIndex(i)] {
			t.Errorf("slot %d (le %g): %d classic, native %d", i, b.GetUpperBound(), slot, byIndex[series.NativeIndex(i)])
		}
	}
	if len(proto.GetBucket()) != series.Log2Slots-1 {
		t.Errorf("%d classic buckets beside the native ones, want %d", len(proto.GetBucket()), series.Log2Slots-1)
	}
	if text.Schema != nil || text.ZeroThreshold != nil || len(text.PositiveSpan) != 0 {
		t.Errorf("a text scrape has native fields: %v", text)
	}
	// The text format writes the +Inf bucket the protobuf one leaves out.
	same := text.GetSampleCount() == execs && text.GetSampleSum() == proto.GetSampleSum() && len(text.GetBucket()) == len(proto.GetBucket())+1
	for i, b := range proto.GetBucket() {
		same = same && text.Bucket[i].GetUpperBound() == b.GetUpperBound() && text.Bucket[i].GetCumulativeCount() == b.GetCumulativeCount()
	}
	if !same {
		t.Errorf("text scrape: %v\nprotobuf: %v", text, proto)
	}
}

// TestOTLPExportsNativeAsExponential: over OTLP the same family is an
// exponential histogram of scale 0 with exactly the calls made.
func TestOTLPExportsNativeAsExponential(t *testing.T) {
	const execs = 9
	a, labels := startNativeAgent(t, execs, "")
	r := pushOTLP(t, a.Gatherer())
	var got *metricspb.ExponentialHistogramDataPoint
	testutil.Eventually(t, 10*time.Second, func() bool {
		for _, p := range r.exponential(execLatency) {
			if attrMap(p.GetAttributes())["cgroup"] == labels["cgroup"] {
				got = p
			}
		}
		return got != nil
	}, "no exponential histogram point of %s for %s", execLatency, labels["cgroup"])
	want := histogramOf(t, scrapeFormat(t, a.Handler(), `application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited`)[execLatency], labels)
	var inBuckets uint64
	for _, c := range got.GetPositive().GetBucketCounts() {
		inBuckets += c
	}
	if got.GetScale() != 0 || got.GetCount() != execs || inBuckets+got.GetZeroCount() != execs ||
		got.GetZeroCount() != want.GetZeroCount() || got.GetZeroThreshold() != series.NativeZeroThreshold || got.GetSum() != want.GetSampleSum() {
		t.Errorf("OTLP point %v\nprotobuf scrape %v", got, want)
	}
	// OTLP's bucket o holds (2^o, 2^(o+1)]: Prometheus' bucket o+1.
	if first := want.GetPositiveSpan(); len(first) > 0 && got.GetPositive().GetOffset() != first[0].GetOffset()-1 {
		t.Errorf("OTLP offset %d for Prometheus' first index %d", got.GetPositive().GetOffset(), first[0].GetOffset())
	}
}
