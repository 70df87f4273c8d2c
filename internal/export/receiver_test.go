package export_test

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	collpb "go.opentelemetry.io/proto/otlp/collector/metrics/v1"
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
)

// receiver is a real OTLP metrics receiver (the collector/metrics/v1
// service over gRPC, and OTLP/HTTP with protobuf bodies on /v1/metrics) that
// keeps every request it is sent.
type receiver struct {
	collpb.UnimplementedMetricsServiceServer
	mu       sync.Mutex
	requests []*collpb.ExportMetricsServiceRequest
}

// Export implements the gRPC MetricsService.
func (r *receiver) Export(_ context.Context, req *collpb.ExportMetricsServiceRequest) (*collpb.ExportMetricsServiceResponse, error) {
	r.mu.Lock()
	r.requests = append(r.requests, req)
	r.mu.Unlock()
	return &collpb.ExportMetricsServiceResponse{}, nil
}

// ServeHTTP is the OTLP/HTTP binary-protobuf endpoint.
func (r *receiver) ServeHTTP(w http.ResponseWriter, hr *http.Request) {
	if hr.URL.Path != "/v1/metrics" || hr.Method != http.MethodPost {
		http.NotFound(w, hr)
		return
	}
	if ct := hr.Header.Get("Content-Type"); ct != "application/x-protobuf" {
		http.Error(w, "want application/x-protobuf, got "+ct, http.StatusUnsupportedMediaType)
		return
	}
	body, err := io.ReadAll(hr.Body)
	req := &collpb.ExportMetricsServiceRequest{}
	if err == nil {
		err = proto.Unmarshal(body, req)
	}
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	resp, _ := r.Export(hr.Context(), req)
	out, _ := proto.Marshal(resp)
	w.Header().Set("Content-Type", "application/x-protobuf")
	w.Write(out)
}

// serveGRPC starts the gRPC service on a loopback port; it returns HOST:PORT.
func (r *receiver) serveGRPC(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	collpb.RegisterMetricsServiceServer(srv, r)
	go srv.Serve(ln)
	t.Cleanup(srv.Stop)
	return ln.Addr().String()
}

// serveHTTP starts OTLP/HTTP on a loopback port; it returns HOST:PORT.
func (r *receiver) serveHTTP(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(r)
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String()
}

// point is one received number data point with its resource.
type point struct {
	resource map[string]string
	attrs    map[string]string
	value    float64
}

// points lists every number data point received for metric name, oldest first.
func (r *receiver) points(name string) []point {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []point
	for _, req := range r.requests {
		for _, rm := range req.GetResourceMetrics() {
			res := attrMap(rm.GetResource().GetAttributes())
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					if m.GetName() != name {
						continue
					}
					dps := m.GetSum().GetDataPoints()
					if m.GetGauge() != nil {
						dps = m.GetGauge().GetDataPoints()
					}
					for _, dp := range dps {
						out = append(out, point{resource: res, attrs: attrMap(dp.GetAttributes()), value: dp.GetAsDouble()})
					}
				}
			}
		}
	}
	return out
}

// exponential lists every exponential histogram point received for
// metric name, oldest first.
func (r *receiver) exponential(name string) []*metricspb.ExponentialHistogramDataPoint {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*metricspb.ExponentialHistogramDataPoint
	for _, req := range r.requests {
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					if m.GetName() == name {
						out = append(out, m.GetExponentialHistogram().GetDataPoints()...)
					}
				}
			}
		}
	}
	return out
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	out := map[string]string{}
	for _, kv := range kvs {
		out[kv.GetKey()] = kv.GetValue().GetStringValue()
	}
	return out
}
