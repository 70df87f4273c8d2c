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
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	logspb "go.opentelemetry.io/proto/otlp/logs/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// OTLPReceiver is a real OTLP receiver of metrics and logs: the collector's
// MetricsService and LogsService over gRPC, and OTLP/HTTP with protobuf
// bodies on /v1/metrics and /v1/logs. It keeps every request it is sent.
type OTLPReceiver struct {
	mu      sync.Mutex
	metrics []*collmetricspb.ExportMetricsServiceRequest
	logs    []*colllogspb.ExportLogsServiceRequest
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

// OTLPAttrs is OTLP attributes by key.
func OTLPAttrs(kvs []*commonpb.KeyValue) map[string]*commonpb.AnyValue {
	out := map[string]*commonpb.AnyValue{}
	for _, kv := range kvs {
		out[kv.GetKey()] = kv.GetValue()
	}
	return out
}
