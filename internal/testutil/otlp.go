package testutil

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	colllogspb "go.opentelemetry.io/proto/otlp/collector/logs/v1"
	collmetricspb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	colltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// OTLPReceiver is a real OTLP receiver of metrics, logs and traces: the
// collector's MetricsService, LogsService and TraceService over gRPC, and
// OTLP/HTTP with protobuf bodies on /v1/metrics, /v1/logs and /v1/traces.
// It keeps every request it is sent.
type OTLPReceiver struct {
	mu      sync.Mutex
	metrics []*collmetricspb.ExportMetricsServiceRequest
	logs    []*colllogspb.ExportLogsServiceRequest
	traces  []*colltracepb.ExportTraceServiceRequest
}

// MetricRequests is every metrics request received, oldest first.
func (r *OTLPReceiver) MetricRequests() []*collmetricspb.ExportMetricsServiceRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*collmetricspb.ExportMetricsServiceRequest(nil), r.metrics...)
}

// LogRequests is every logs request received, oldest first.
func (r *OTLPReceiver) LogRequests() []*colllogspb.ExportLogsServiceRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*colllogspb.ExportLogsServiceRequest(nil), r.logs...)
}

// TraceRequests is every trace request received, oldest first.
func (r *OTLPReceiver) TraceRequests() []*colltracepb.ExportTraceServiceRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]*colltracepb.ExportTraceServiceRequest(nil), r.traces...)
}

type metricsService struct {
	collmetricspb.UnimplementedMetricsServiceServer
	r *OTLPReceiver
}

func (s metricsService) Export(_ context.Context, req *collmetricspb.ExportMetricsServiceRequest) (*collmetricspb.ExportMetricsServiceResponse, error) {
	s.r.mu.Lock()
	s.r.metrics = append(s.r.metrics, req)
	s.r.mu.Unlock()
	return &collmetricspb.ExportMetricsServiceResponse{}, nil
}

type logsService struct {
	colllogspb.UnimplementedLogsServiceServer
	r *OTLPReceiver
}

func (s logsService) Export(_ context.Context, req *colllogspb.ExportLogsServiceRequest) (*colllogspb.ExportLogsServiceResponse, error) {
	s.r.mu.Lock()
	s.r.logs = append(s.r.logs, req)
	s.r.mu.Unlock()
	return &colllogspb.ExportLogsServiceResponse{}, nil
}

type traceService struct {
	colltracepb.UnimplementedTraceServiceServer
	r *OTLPReceiver
}

func (s traceService) Export(_ context.Context, req *colltracepb.ExportTraceServiceRequest) (*colltracepb.ExportTraceServiceResponse, error) {
	s.r.mu.Lock()
	s.r.traces = append(s.r.traces, req)
	s.r.mu.Unlock()
	return &colltracepb.ExportTraceServiceResponse{}, nil
}

// ServeHTTP is the OTLP/HTTP binary-protobuf endpoint.
func (r *OTLPReceiver) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	var req proto.Message
	var export func() proto.Message
	switch hr.URL.Path {
	case "/v1/metrics":
		m := &collmetricspb.ExportMetricsServiceRequest{}
		req, export = m, func() proto.Message { resp, _ := (metricsService{r: r}).Export(hr.Context(), m); return resp }
	case "/v1/logs":
		l := &colllogspb.ExportLogsServiceRequest{}
		req, export = l, func() proto.Message { resp, _ := (logsService{r: r}).Export(hr.Context(), l); return resp }
	case "/v1/traces":
		tr := &colltracepb.ExportTraceServiceRequest{}
		req, export = tr, func() proto.Message { resp, _ := (traceService{r: r}).Export(hr.Context(), tr); return resp }
	}
	if req == nil || hr.Method != http.MethodPost {
		http.NotFound(w, hr)
		return
	}
	if ct := hr.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "want application/x-protobuf, got "+ct, http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(hr.Body)
	if err == nil {
		err = proto.Unmarshal(body, req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	out, _ := proto.Marshal(export())
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// ServeGRPC starts the gRPC services on a loopback port; it returns
// HOST:PORT.
func (r *OTLPReceiver) ServeGRPC(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	collmetricspb.RegisterMetricsServiceServer(srv, metricsService{r: r})
	colllogspb.RegisterLogsServiceServer(srv, logsService{r: r})
	colltracepb.RegisterTraceServiceServer(srv, traceService{r: r})
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// ServeOTLPHTTP starts OTLP/HTTP on a loopback port; it returns HOST:PORT.
func (r *OTLPReceiver) ServeOTLPHTTP(t testing.TB) string {
	t.Helper()
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// Serve starts the receiver for protocol ("grpc" or "http"); it returns
// HOST:PORT.
func (r *OTLPReceiver) Serve(t testing.TB, protocol string) string {
	if protocol == "http" {
		return r.ServeOTLPHTTP(t)
	}
	return r.ServeGRPC(t)
}

// ReceivedLog is one log record received, with its resource's attributes.
type ReceivedLog struct {
	Resource map[string]*commonpb.AnyValue
	*logspb.LogRecord
}

// Attrs is the record's attributes by key.
func (l ReceivedLog) Attrs() map[string]*commonpb.AnyValue { return OTLPAttrs(l.GetAttributes()) }

// LogRecords is every log record received, oldest first.
func (r *OTLPReceiver) LogRecords() []ReceivedLog {
	var out []ReceivedLog
	for _, req := range r.LogRequests() {
		for _, rl := range req.GetResourceLogs() {
			res := OTLPAttrs(rl.GetResource().GetAttributes())
			for _, sl := range rl.GetScopeLogs() {
				for _, lr := range sl.GetLogRecords() {
					out = append(out, ReceivedLog{Resource: res, LogRecord: lr})
				}
			}
		}
	}
	return out
}

// ReceivedSpan is one span received, with its resource's attributes.
type ReceivedSpan struct {
	Resource map[string]*commonpb.AnyValue
	*tracepb.Span
}

// Attrs is the span's attributes by key.
func (s ReceivedSpan) Attrs() map[string]*commonpb.AnyValue { return OTLPAttrs(s.GetAttributes()) }

// Spans is every span received, oldest first.
func (r *OTLPReceiver) Spans() []ReceivedSpan {
	var out []ReceivedSpan
	for _, req := range r.TraceRequests() {
		out = appendSpans(out, req.GetResourceSpans())
	}
	return out
}

// appendSpans appends the spans of rss, each with its resource's attributes.
func appendSpans(out []ReceivedSpan, rss []*tracepb.ResourceSpans) []ReceivedSpan {
	for _, rs := range rss {
		res := OTLPAttrs(rs.GetResource().GetAttributes())
		for _, ss := range rs.GetScopeSpans() {
			for _, sp := range ss.GetSpans() {
				out = append(out, ReceivedSpan{Resource: res, Span: sp})
			}
		}
	}
	return out
}

// OTLPAttrs is OTLP attributes by key.
func OTLPAttrs(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	out := map[string]*commonpb.AnyValue{}
	for _, kv := range kvs {
		out[kv.GetKey()] = kv.GetValue()
	}
	return out
}
