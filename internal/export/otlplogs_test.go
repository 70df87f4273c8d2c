package export

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	otellog "go.opentelemetry.io/otel/log"

	"github.com/orb8/orb8/internal/testutil"
)

var discard = slog.New(slog.NewTextHandler(io.Discard, nil))

func record(i int) otellog.Record {
	var r otellog.Record
	r.SetEventName("test.record")
	r.SetBody(attribute.StringValue(fmt.Sprint(i)))
	return r
}

// TestLogsEndpoint: logs go where OTLP/HTTP's convention puts them beside
// the metrics endpoint.
func TestLogsEndpoint(t *testing.T) {
	cases := []struct{ metrics, logs string }{
		{"collector:4317", "collector:4317"},
		{"http://collector:4318/v1/metrics", "http://collector:4318/v1/logs"},
		{"https://otlp.example/otlp/v1/metrics", "https://otlp.example/otlp/v1/logs"},
		{"https://otlp.example/api/v1/metrics/", "https://otlp.example/api/v1/metrics/v1/logs"},
		{"http://collector:4318", "http://collector:4318/v1/logs"},
		{"http://collector:4318/", "http://collector:4318/v1/logs"},
	}
	for _, c := range cases {
		if got, err := logsEndpoint(c.metrics); err != nil || got != c.logs {
			t.Errorf("logsEndpoint(%q) = %q, %v; want %q", c.metrics, got, err, c.logs)
		}
	}
}

// TestLogsReachAReceiver: every record emitted arrives once, over either
// protocol, with the node's resource; none is counted missed.
func TestLogsReachAReceiver(t *testing.T) {
	for _, protocol := range []string{"grpc", "http"} {
		t.Run(protocol, func(t *testing.T) {
			var r testutil.OTLPReceiver
			var errs atomic.Uint64
			o := OTLP{Endpoint: r.Serve(t, protocol), Protocol: protocol, Insecure: true, NodeName: "node-a", Errors: &errs}
			if protocol == "http" {
				o.Endpoint = "http://" + o.Endpoint + "/v1/metrics"
			}
			logs, err := StartLogs(context.Background(), o, "test", discard)
			if err != nil {
				t.Fatal(err)
			}
			const n = 700 // more than one batch
			for i := range n {
				logs.Emit(context.Background(), record(i))
			}
			testutil.Eventually(t, 10*time.Second, func() bool { return len(r.LogRecords()) >= n }, "received %d of %d records", len(r.LogRecords()), n)
			if err := logs.Shutdown(context.Background()); err != nil {
				t.Fatal(err)
			}
			got := r.LogRecords()
			seen := map[string]bool{}
			for _, l := range got {
				seen[l.GetBody().GetStringValue()] = true
				if l.GetEventName() != "test.record" || l.Resource["k8s.node.name"].GetStringValue() != "node-a" || l.Resource["service.name"].GetStringValue() != "orb8" {
					t.Fatalf("record %v with resource %v", l.LogRecord, l.Resource)
				}
			}
			if len(got) != n || len(seen) != n {
				t.Errorf("received %d records, %d distinct; want %d", len(got), len(seen), n)
			}
			if logs.Missed() != 0 || errs.Load() != 0 {
				t.Errorf("missed %d, export errors %d; want none", logs.Missed(), errs.Load())
			}
		})
	}
}

// TestLogsDropWhenTheQueueIsFull: while the receiver does not answer, Emit
// still returns at once; past LogQueueSize waiting records the rest are
// dropped and counted, and what was kept arrives once it answers.
func TestLogsDropWhenTheQueueIsFull(t *testing.T) {
	r, url, release := stalledReceiver(t)
	logs, err := StartLogs(context.Background(), OTLP{Endpoint: url, Protocol: "http"}, "test", discard)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3 * LogQueueSize
	start := time.Now()
	for i := range n {
		logs.Emit(context.Background(), record(i))
	}
	emitted := time.Since(start)
	missed := logs.Missed()
	close(release)
	if err := logs.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := len(r.LogRecords())
	t.Logf("%d records emitted in %v: %d dropped, %d received", n, emitted, missed, got)
	if missed < n-LogQueueSize-512 || got < LogQueueSize {
		t.Errorf("dropped %d, received %d: want the queue's %d kept and the rest (but a batch in flight) dropped", missed, got, LogQueueSize)
	}
	if uint64(got)+logs.Missed() != n {
		t.Errorf("received %d + missed %d != %d emitted", got, logs.Missed(), n)
	}
}

// stalledReceiver is an OTLP/HTTP receiver at url that answers nothing
// until release is closed.
func stalledReceiver(t *testing.T) (r *testutil.OTLPReceiver, url string, release chan struct{}) {
	r, release = &testutil.OTLPReceiver{}, make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		<-release
		r.ServeHTTP(w, req)
	}))
	t.Cleanup(srv.Close)
	return r, srv.URL, release
}

// TestLogsCountFailedExports: records a receiver refuses are missed, and
// the refusal is an export error.
func TestLogsCountFailedExports(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		http.Error(w, "no", http.StatusBadRequest)
	}))
	t.Cleanup(srv.Close)
	var errs atomic.Uint64
	logs, err := StartLogs(context.Background(), OTLP{Endpoint: strings.TrimPrefix(srv.URL, "http://"), Protocol: "http", Insecure: true, Errors: &errs}, "test", discard)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		logs.Emit(context.Background(), record(i))
	}
	if err := logs.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if logs.Missed() != 3 || errs.Load() == 0 {
		t.Errorf("missed %d, export errors %d; want 3 missed and the failure counted", logs.Missed(), errs.Load())
	}
}
