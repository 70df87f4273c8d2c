package export

import (
	"context"
	"net/netip"
	"runtime"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/testutil"
)

// httpEvent is an http event of pod web-0 with ids from i.
func httpEvent(i byte, direction, method string, status int) events.Event {
	return events.Event{
		Time: time.Unix(1700000000, 123456789), Kind: events.KindHTTP,
		Workload: cgroup.Workload{Namespace: "shop", Pod: "web-0", Container: "app"},
		HTTP: &events.HTTP{
			Direction: direction, Method: method, Path: "/cart", Status: status, Latency: 1500 * time.Microsecond,
			Protocol: "HTTP/1.0",
			Local:    netip.MustParseAddrPort("[::ffff:10.0.0.2]:8080"),
			Peer:     netip.MustParseAddrPort("[::ffff:10.0.0.1]:40000"),
			TraceID:  trace.TraceID{1, i}, SpanID: trace.SpanID{2, i}, ParentSpanID: trace.SpanID{3, i},
		},
	}
}

// TestSpansOfHTTPEvents: each event is one span with its ids, times,
// kind, the conventions' name, attributes and status, and the workload's
// k8s names.
func TestSpansOfHTTPEvents(t *testing.T) {
	var r testutil.OTLPReceiver
	tr, err := StartTraces(context.Background(), OTLP{Endpoint: r.ServeGRPC(t), Protocol: "grpc", Insecure: true, NodeName: "n1"}, discard)
	if err != nil {
		t.Fatal(err)
	}
	sent := []events.Event{
		httpEvent(1, "server", "PROPFIND", 503),
		httpEvent(2, "server", "GET", 404),
		httpEvent(3, "client", "GET", 404),
	}
	root := httpEvent(4, "client", "POST", 200)
	root.HTTP.ParentSpanID = trace.SpanID{}
	sent = append(sent, root)
	for i := range sent {
		tr.Span(&sent[i])
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	spans := r.Spans()
	if len(spans) != len(sent) || tr.Missed() != 0 {
		t.Fatalf("%d spans received, %d missed; want %d and 0", len(spans), tr.Missed(), len(sent))
	}
	want := []struct {
		name, method, original string
		kind                   tracepb.Span_SpanKind
		server, client         string
		failed                 bool
	}{
		{"HTTP", "_OTHER", "PROPFIND", tracepb.Span_SPAN_KIND_SERVER, "10.0.0.2:8080", "10.0.0.1:40000", true},
		{"GET", "GET", "", tracepb.Span_SPAN_KIND_SERVER, "10.0.0.2:8080", "10.0.0.1:40000", false},
		{"GET", "GET", "", tracepb.Span_SPAN_KIND_CLIENT, "10.0.0.1:40000", "10.0.0.2:8080", true},
		{"POST", "POST", "", tracepb.Span_SPAN_KIND_CLIENT, "10.0.0.1:40000", "10.0.0.2:8080", false},
	}
	for i, s := range spans {
		w, e := want[i], sent[i]
		a := s.Attrs()
		server := netip.AddrPortFrom(netip.MustParseAddr(a["server.address"].GetStringValue()), uint16(a["server.port"].GetIntValue()))
		client := netip.AddrPortFrom(netip.MustParseAddr(a["client.address"].GetStringValue()), uint16(a["client.port"].GetIntValue()))
		if s.GetName() != w.name || s.GetKind() != w.kind || a["http.request.method"].GetStringValue() != w.method ||
			a["http.request.method_original"].GetStringValue() != w.original || server.String() != w.server || client.String() != w.client ||
			a["url.path"].GetStringValue() != "/cart" || a["network.protocol.version"].GetStringValue() != "1.0" ||
			a["http.response.status_code"].GetIntValue() != int64(e.HTTP.Status) {
			t.Errorf("span %d: %s %v %v, want %+v", i, s.GetName(), s.GetKind(), a, w)
		}
		if a["k8s.namespace.name"].GetStringValue() != "shop" || a["k8s.pod.name"].GetStringValue() != "web-0" || a["k8s.container.name"].GetStringValue() != "app" ||
			s.Resource["k8s.node.name"].GetStringValue() != "n1" {
			t.Errorf("span %d: attributes %v, resource %v: want the workload's and the node's names", i, a, s.Resource)
		}
		if failed := s.GetStatus().GetCode() == tracepb.Status_STATUS_CODE_ERROR; failed != w.failed || (a["error.type"] != nil) != w.failed {
			t.Errorf("span %d: status %v, error.type %v; want error %v", i, s.GetStatus(), a["error.type"], w.failed)
		}
		if trace.TraceID(s.GetTraceId()) != e.HTTP.TraceID || trace.SpanID(s.GetSpanId()) != e.HTTP.SpanID {
			t.Errorf("span %d: ids %x %x, want the event's %s %s", i, s.GetTraceId(), s.GetSpanId(), e.HTTP.TraceID, e.HTTP.SpanID)
		}
		if e.HTTP.ParentSpanID.IsValid() != (len(s.GetParentSpanId()) > 0) ||
			(e.HTTP.ParentSpanID.IsValid() && trace.SpanID(s.GetParentSpanId()) != e.HTTP.ParentSpanID) {
			t.Errorf("span %d: parent %x, want %s", i, s.GetParentSpanId(), e.HTTP.ParentSpanID)
		}
		if s.GetStartTimeUnixNano() != uint64(e.Time.UnixNano()) || s.GetEndTimeUnixNano() != uint64(e.Time.Add(e.HTTP.Latency).UnixNano()) {
			t.Errorf("span %d: %d to %d, want the event's time and latency", i, s.GetStartTimeUnixNano(), s.GetEndTimeUnixNano())
		}
	}
}

// TestSpansDropWhenTheQueueIsFull: past SpanQueueSize waiting spans, Span
// drops and counts; every span is received or missed.
func TestSpansDropWhenTheQueueIsFull(t *testing.T) {
	r, url, release := stalledReceiver(t)
	tr, err := StartTraces(context.Background(), OTLP{Endpoint: url + "/v1/traces", Protocol: "http"}, discard)
	if err != nil {
		t.Fatal(err)
	}
	const n = 3 * SpanQueueSize
	e := httpEvent(1, "server", "GET", 200)
	for range n {
		tr.Span(&e)
	}
	missed := tr.Missed()
	close(release)
	if err := tr.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := len(r.Spans())
	if missed < n-SpanQueueSize-512 || got < SpanQueueSize {
		t.Errorf("dropped %d, received %d: want the queue's %d kept and the rest (but a batch in flight) dropped", missed, got, SpanQueueSize)
	}
	if uint64(got)+tr.Missed() != n {
		t.Errorf("received %d + missed %d != %d spanned", got, tr.Missed(), n)
	}
}

// BenchmarkSpan measures one http event made a span and exported over
// gRPC, the in-process receiver's decoding included (an upper bound of the
// agent's cost per request and side).
func BenchmarkSpan(b *testing.B) {
	var r testutil.OTLPReceiver
	tr, err := StartTraces(context.Background(), OTLP{Endpoint: r.ServeGRPC(b), Protocol: "grpc", Insecure: true}, discard)
	if err != nil {
		b.Fatal(err)
	}
	e := httpEvent(1, "server", "GET", 200)
	b.ReportAllocs()
	for b.Loop() {
		tr.Span(&e)
		for tr.queue.queued.Load() >= SpanQueueSize/2 { // keep pace with the exporter: count the export too
			runtime.Gosched()
		}
	}
	if err := tr.Shutdown(context.Background()); err != nil {
		b.Fatal(err)
	}
	if tr.Missed() != 0 {
		b.Fatalf("%d spans missed", tr.Missed())
	}
}

// A TLS request's span has no address attributes: SSL_read sees no socket,
// and "invalid IP" with port 0 would be made up.
func TestTLSSpanHasNoAddresses(t *testing.T) {
	e := httpEvent(1, "server", "GET", 200)
	e.HTTP.TLS, e.HTTP.Peer, e.HTTP.Local = true, netip.AddrPort{}, netip.AddrPort{}
	_, attrs := httpSpanAttributes(&e)
	for _, kv := range attrs {
		switch kv.Key {
		case "server.address", "server.port", "client.address", "client.port":
			t.Errorf("TLS span has %s = %v", kv.Key, kv.Value.String())
		}
	}
}

// TestGRPCSpanAttributes: a gRPC call's span follows the OTel RPC
// conventions: named by its method, rpc.* attributes, and an error by the
// gRPC status as the side that saw it judges it.
func TestGRPCSpanAttributes(t *testing.T) {
	for _, c := range []struct {
		direction string
		code      int
		name      string
		failed    bool
	}{
		{"server", 0, "OK", false},
		{"server", 5, "NOT_FOUND", false},
		{"client", 5, "NOT_FOUND", true},
		{"server", 14, "UNAVAILABLE", true},
		{"client", 99, "99", true},
	} {
		e := httpEvent(1, c.direction, "POST", 200)
		e.HTTP.Protocol, e.HTTP.Path, e.HTTP.GRPC, e.HTTP.GRPCStatus = "HTTP/2", "/grpc.health.v1.Health/Check", true, c.code
		name, attrs := httpSpanAttributes(&e)
		a := map[attribute.Key]string{}
		for _, kv := range attrs {
			a[kv.Key] = kv.Value.String()
		}
		if name != "grpc.health.v1.Health/Check" || a["rpc.system.name"] != "grpc" || a["rpc.method"] != "grpc.health.v1.Health/Check" ||
			a["rpc.response.status_code"] != c.name || a["network.protocol.version"] != "2" || a["http.request.method"] != "" {
			t.Errorf("%+v: span %q %v", c, name, a)
		}
		if failed := httpFailed(e.HTTP); failed != c.failed || (a["error.type"] != "") != c.failed || (c.failed && a["error.type"] != c.name) {
			t.Errorf("%+v: failed %v, error.type %q", c, failed, a["error.type"])
		}
	}
}
