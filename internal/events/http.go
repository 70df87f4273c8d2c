package events

import (
	"net/netip"
	"time"

	"go.opentelemetry.io/otel/trace"
)

// KindHTTP is one HTTP request of a workload, as a server or as a client.
const KindHTTP = "http"

// HTTP is what an http event adds: one request and its response.
type HTTP struct {
	// Direction is "server" (the workload received the request) or
	// "client" (it sent it).
	Direction string `json:"direction"`
	Method    string `json:"method"` // as sent, at most MaxHTTPMethod bytes
	// Path is the request target without its query string, at most
	// MaxHTTPPath bytes (PathTruncated says it was cut).
	Path          string         `json:"path"`
	PathTruncated bool           `json:"pathTruncated,omitempty"`
	Status        int            `json:"status"`
	Latency       time.Duration  `json:"latencyNs"` // request's first byte to response's first byte
	Peer          netip.AddrPort `json:"peer"`      // the other end: the client of a server, the server of a client
	Protocol      string         `json:"protocol"`  // HTTP/1.0, HTTP/1.1 or HTTP/2, the request's
	Local         netip.AddrPort `json:"local"`     // the workload's own end
	// TLS: the request went through TLS (libssl), seen as plaintext by
	// uprobes; Peer and Local are then unknown (zero).
	TLS bool `json:"tls,omitempty"`
	// GRPC: an HTTP/2 request with a content-type of application/grpc*,
	// Path its /package.Service/Method, ended by GRPCStatus (the
	// grpc-status of its trailers, 0..16); not set for one whose response
	// ended without a grpc-status.
	GRPC       bool `json:"grpc,omitempty"`
	GRPCStatus int  `json:"grpcStatus,omitempty"`
	// TraceID and SpanID place the request in a distributed trace, under
	// ParentSpanID (zero: a trace's root). The parent is the span of the
	// request's W3C traceparent header, else, for a server, the span of the
	// client request on this node that sent it over the same connection.
	TraceID      trace.TraceID `json:"traceId,omitzero"`
	SpanID       trace.SpanID  `json:"spanId,omitzero"`
	ParentSpanID trace.SpanID  `json:"parentSpanId,omitzero"`
}

// Bounds of an http event's strings.
const (
	MaxHTTPMethod = 20
	MaxHTTPPath   = 256
)
