package export

import (
	"context"
	"log/slog"
	"net/url"
	"strings"

	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploggrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlplog/otlploghttp"
	otellog "go.opentelemetry.io/otel/log"
	sdklog "go.opentelemetry.io/otel/sdk/log"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/orb8/orb8/internal/version"
)

// LogQueueSize is how many log records wait for export at most; past it a
// record is dropped (Logs.Missed) rather than the caller kept waiting.
const LogQueueSize = 2048

// Logs sends log records over OTLP, in batches (one export a second, or as
// soon as 512 wait), to the endpoint, with the TLS settings and the
// resource of the metrics push. Emit never blocks.
type Logs struct {
	provider *sdklog.LoggerProvider
	logger   otellog.Logger
	queue    *queue
}

// StartLogs starts sending log records to o's endpoint under the
// instrumentation scope named scope; failed exports are counted in
// o.Errors, the first one logged.
func StartLogs(ctx context.Context, o OTLP, scope string, log *slog.Logger) (*Logs, error) {
	exp, res, err := exporterFor(ctx, o, newLogExporter)
	if err != nil {
		return nil, err
	}
	l := &Logs{queue: newQueue(LogQueueSize, "log", o, log)}
	batch := sdklog.NewBatchProcessor(countingLogExporter{exp, l.queue}, sdklog.WithMaxQueueSize(LogQueueSize))
	l.provider = sdklog.NewLoggerProvider(sdklog.WithResource(res), sdklog.WithProcessor(batch))
	l.logger = l.provider.Logger(scope, otellog.WithInstrumentationVersion(version.String()), otellog.WithSchemaURL(semconv.SchemaURL))
	return l, nil
}

// Emit queues r for export, or drops it when LogQueueSize records wait.
func (l *Logs) Emit(ctx context.Context, r otellog.Record) {
	if l.queue.admit() {
		l.logger.Emit(ctx, r)
	}
}

// Missed is the records that did not reach the receiver: dropped by a full
// queue, or in an export that failed.
func (l *Logs) Missed() uint64 { return l.queue.missed() }

// Shutdown exports what waits and stops.
func (l *Logs) Shutdown(ctx context.Context) error { return l.provider.Shutdown(ctx) }

// countingLogExporter accounts for what the batch processor hands the
// exporter in its queue.
type countingLogExporter struct {
	sdklog.Exporter
	q *queue
}

func (c countingLogExporter) Export(ctx context.Context, records []sdklog.Record) error {
	c.q.exported(len(records), c.Exporter.Export(ctx, records))
	return nil
}

func newLogExporter(ctx context.Context, o OTLP) (sdklog.Exporter, error) {
	endpoint, err := logsEndpoint(o.Endpoint)
	if err != nil {
		return nil, err
	}
	switch o.Protocol {
	case "grpc":
		return otlploggrpc.New(ctx, endpointOptions(endpoint, o.Insecure, otlploggrpc.WithEndpoint, otlploggrpc.WithEndpointURL, otlploggrpc.WithInsecure)...)
	case "http":
		return otlploghttp.New(ctx, endpointOptions(endpoint, o.Insecure, otlploghttp.WithEndpoint, otlploghttp.WithEndpointURL, otlploghttp.WithInsecure)...)
	}
	return nil, unknownProtocol(o.Protocol)
}

// logsEndpoint is where logs go for the metrics endpoint: HOST:PORT as
// is (OTLP/HTTP's own path, /v1/logs); a URL with its path's /v1/metrics
// replaced by /v1/logs, or /v1/logs appended to any other path.
func logsEndpoint(endpoint string) (string, error) {
	if !strings.Contains(endpoint, "://") {
		return endpoint, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", err
	}
	u.Path = strings.TrimSuffix(strings.TrimSuffix(u.Path, "/v1/metrics"), "/") + "/v1/logs"
	return u.String(), nil
}
