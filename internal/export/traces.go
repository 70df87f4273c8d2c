package export

import (
	"context"
	"log/slog"
	"strconv"
	"strings"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracegrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/version"
)

// SpanQueueSize is how many spans wait for export at most; past it a span
// is dropped (Traces.Missed) rather than the caller kept waiting.
const SpanQueueSize = 4096

// Traces sends one span per HTTP request event over OTLP, in batches, with
// the TLS settings and the resource of the metrics push. The spans keep
// the ids the probe gave the requests, so that spans of this node and
// those of instrumented applications form one trace. Span never blocks.
type Traces struct {
	provider *sdktrace.TracerProvider
	tracer   trace.Tracer
	queue    *queue
}

// StartTraces starts sending spans to o's endpoint; failed exports are
// counted in o.Errors, the first one logged.
func StartTraces(ctx context.Context, o OTLP, log *slog.Logger) (*Traces, error) {
	exp, res, err := exporterFor(ctx, o, newTraceExporter)
	if err != nil {
		return nil, err
	}
	t := &Traces{queue: newQueue(SpanQueueSize, "span", o, log)}
	batch := sdktrace.NewBatchSpanProcessor(countingSpanExporter{exp, t.queue}, sdktrace.WithMaxQueueSize(SpanQueueSize))
	t.provider = sdktrace.NewTracerProvider(sdktrace.WithResource(res), sdktrace.WithSpanProcessor(batch),
		sdktrace.WithSampler(sdktrace.AlwaysSample()), sdktrace.WithIDGenerator(givenIDs{}))
	t.tracer = t.provider.Tracer("github.com/orb8/orb8/internal/probes/http",
		trace.WithInstrumentationVersion(version.String()), trace.WithSchemaURL(semconv.SchemaURL))
	return t, nil
}

// Span queues the span of e, an http event, or drops it when
// SpanQueueSize spans wait.
func (t *Traces) Span(e *events.Event) {
	h := e.HTTP
	if h == nil || !t.queue.admit() {
		return
	}
	ctx := context.WithValue(context.Background(), idsKey{}, ids{trace: h.TraceID, span: h.SpanID})
	if h.ParentSpanID.IsValid() {
		ctx = trace.ContextWithRemoteSpanContext(ctx, trace.NewSpanContext(trace.SpanContextConfig{
			TraceID: h.TraceID, SpanID: h.ParentSpanID, TraceFlags: trace.FlagsSampled, Remote: true,
		}))
	}
	name, attrs := httpSpanAttributes(e)
	_, span := t.tracer.Start(ctx, name, trace.WithTimestamp(e.Time), trace.WithSpanKind(spanKind(h)), trace.WithAttributes(attrs...))
	if httpFailed(h) {
		span.SetStatus(codes.Error, "")
	}
	span.End(trace.WithTimestamp(e.Time.Add(h.Latency)))
}

// Missed is the spans that did not reach the receiver: dropped by a full
// queue, or in an export that failed.
func (t *Traces) Missed() uint64 { return t.queue.missed() }

// Shutdown exports what waits and stops.
func (t *Traces) Shutdown(ctx context.Context) error { return t.provider.Shutdown(ctx) }

func spanKind(h *events.HTTP) trace.SpanKind {
	if h.Direction == "server" {
		return trace.SpanKindServer
	}
	return trace.SpanKindClient
}

// httpFailed: a 5xx for a server, any 4xx or 5xx for a client (OTel HTTP
// semantic conventions, span status); for a gRPC call any status but OK
// for a client, for a server UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED,
// INTERNAL, UNAVAILABLE or DATA_LOSS (OTel RPC conventions for gRPC).
func httpFailed(h *events.HTTP) bool {
	if h.GRPC {
		switch h.GRPCStatus {
		case 0:
			return false
		case 2, 4, 12, 13, 14, 15:
			return true
		}
		return spanKind(h) == trace.SpanKindClient
	}
	return h.Status >= 500 || (h.Status >= 400 && spanKind(h) == trace.SpanKindClient)
}

// grpcCodes are the names of gRPC status codes, by code.
var grpcCodes = [...]string{"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
	"UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"}

// grpcCode is the name of a gRPC status code, its number past the known.
func grpcCode(code int) string {
	if code >= 0 && code < len(grpcCodes) {
		return grpcCodes[code]
	}
	return strconv.Itoa(code)
}

// knownMethods are the methods the conventions name; others are _OTHER
// with the method sent in http.request.method_original.
var knownMethods = map[string]bool{"GET": true, "HEAD": true, "POST": true, "PUT": true, "DELETE": true,
	"CONNECT": true, "OPTIONS": true, "TRACE": true, "PATCH": true}

// httpSpanAttributes are the span name and attributes of an http event:
// the OTel HTTP semantic conventions, and the workload's k8s.* names (the
// node's are the resource's).
func httpSpanAttributes(e *events.Event) (string, []attribute.KeyValue) {
	h := e.HTTP
	server, client := h.Peer, h.Local
	if spanKind(h) == trace.SpanKindServer {
		server, client = h.Local, h.Peer
	}
	attrs := make([]attribute.KeyValue, 0, 12)
	var name string
	if h.GRPC {
		name, attrs = grpcAttributes(h, attrs)
	} else {
		name, attrs = requestAttributes(h, attrs)
	}
	attrs = append(attrs, semconv.NetworkProtocolVersion(protocolVersion(h.Protocol)))
	// A TLS request's ends are not known (SSL_read sees no socket).
	if server.IsValid() {
		attrs = append(attrs, semconv.ServerAddress(server.Addr().Unmap().String()), semconv.ServerPort(int(server.Port())))
	}
	if client.IsValid() {
		attrs = append(attrs, semconv.ClientAddress(client.Addr().Unmap().String()), semconv.ClientPort(int(client.Port())))
	}
	switch {
	case httpFailed(h) && h.GRPC:
		attrs = append(attrs, semconv.ErrorTypeKey.String(grpcCode(h.GRPCStatus)))
	case httpFailed(h):
		attrs = append(attrs, semconv.ErrorTypeKey.String(strconv.Itoa(h.Status)))
	}
	for _, kv := range []attribute.KeyValue{
		semconv.K8SNamespaceName(e.Workload.Namespace),
		semconv.K8SPodName(e.Workload.Pod),
		semconv.K8SContainerName(e.Workload.Container),
	} {
		if kv.Value.AsString() != "" { // absent rather than empty
			attrs = append(attrs, kv)
		}
	}
	return name, attrs
}

// requestAttributes appends an HTTP request's method, path and status
// code (OTel HTTP conventions) to attrs, with the span's name.
func requestAttributes(h *events.HTTP, attrs []attribute.KeyValue) (string, []attribute.KeyValue) {
	name, method := h.Method, semconv.HTTPRequestMethodKey.String(h.Method)
	if !knownMethods[h.Method] {
		name, method = "HTTP", semconv.HTTPRequestMethodOther
		attrs = append(attrs, semconv.HTTPRequestMethodOriginal(h.Method))
	}
	return name, append(attrs, method, semconv.URLPath(h.Path), semconv.HTTPResponseStatusCode(h.Status))
}

// grpcAttributes appends a gRPC call's system, method (its path's
// package.Service/Method) and status (OTel RPC conventions) to attrs,
// with the span's name, the method.
func grpcAttributes(h *events.HTTP, attrs []attribute.KeyValue) (string, []attribute.KeyValue) {
	method := strings.TrimPrefix(h.Path, "/")
	return method, append(attrs, semconv.RPCSystemNameGRPC, semconv.RPCMethod(method), semconv.RPCResponseStatusCode(grpcCode(h.GRPCStatus)))
}

// protocolVersion is network.protocol.version of "HTTP/1.1": "1.1".
func protocolVersion(p string) string {
	if len(p) > 5 && p[:5] == "HTTP/" {
		return p[5:]
	}
	return p
}

// idsKey is the context key of the ids a span is started with.
type idsKey struct{}

type ids struct {
	trace trace.TraceID
	span  trace.SpanID
}

// givenIDs makes the SDK use the ids of the event rather than new ones.
type givenIDs struct{}

func (givenIDs) NewIDs(ctx context.Context) (trace.TraceID, trace.SpanID) {
	v, _ := ctx.Value(idsKey{}).(ids)
	return v.trace, v.span
}

func (givenIDs) NewSpanID(ctx context.Context, _ trace.TraceID) trace.SpanID {
	v, _ := ctx.Value(idsKey{}).(ids)
	return v.span
}

// countingSpanExporter accounts for what the batch processor hands the
// exporter in its queue.
type countingSpanExporter struct {
	sdktrace.SpanExporter
	q *queue
}

func (c countingSpanExporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	c.q.exported(len(spans), c.SpanExporter.ExportSpans(ctx, spans))
	return nil
}

func newTraceExporter(ctx context.Context, o OTLP) (sdktrace.SpanExporter, error) {
	switch o.Protocol {
	case "grpc":
		return otlptracegrpc.New(ctx, endpointOptions(o.Endpoint, o.Insecure, otlptracegrpc.WithEndpoint, otlptracegrpc.WithEndpointURL, otlptracegrpc.WithInsecure)...)
	case "http":
		return otlptracehttp.New(ctx, endpointOptions(o.Endpoint, o.Insecure, otlptracehttp.WithEndpoint, otlptracehttp.WithEndpointURL, otlptracehttp.WithInsecure)...)
	}
	return nil, unknownProtocol(o.Protocol)
}
