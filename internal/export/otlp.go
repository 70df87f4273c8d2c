package export

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	promBridge "go.opentelemetry.io/contrib/bridges/prometheus"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetricgrpc"
	"go.opentelemetry.io/otel/exporters/otlp/otlpmetric/otlpmetrichttp"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/resource"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/orb8/orb8/internal/version"
)

// OTLP says where and how to push metrics.
type OTLP struct {
	// Endpoint is HOST:PORT, or a URL (http://host:4318/v1/metrics) whose
	// scheme also decides TLS.
	Endpoint string
	Protocol string // "grpc" or "http"
	Interval time.Duration
	Insecure bool
	// NodeName becomes the resource attribute k8s.node.name; empty means
	// $NODE_NAME, then the hostname.
	NodeName string
	// ClusterName, when set, becomes the resource attribute
	// k8s.cluster.name (a Collector turns it into the cluster label of
	// remote write: docs/fleet.md).
	ClusterName string
	// Errors counts failed exports (orb8_export_errors_total); may be nil.
	Errors *atomic.Uint64
}

// StartOTLP pushes every series of g to an OTLP receiver each o.Interval.
// The series go through the OpenTelemetry Prometheus bridge, so OTLP carries
// the same names and figures as /metrics; workload labels become the
// k8s.namespace.name, k8s.pod.name and k8s.container.name attributes. The
// returned shutdown pushes once more and stops.
func StartOTLP(ctx context.Context, o OTLP, g prometheus.Gatherer, log *slog.Logger) (shutdown func(context.Context) error, err error) {
	exp, res, err := exporterFor(ctx, o, newExporter)
	if err != nil {
		return nil, err
	}
	// Export failures reach the global handler from the reader's goroutine.
	otel.SetErrorHandler(otel.ErrorHandlerFunc(func(err error) {
		if o.Errors != nil {
			o.Errors.Add(1)
		}
		log.Warn("otlp export", "err", err)
	}))
	reader := sdkmetric.NewPeriodicReader(exp,
		sdkmetric.WithInterval(o.Interval),
		sdkmetric.WithProducer(k8sAttributes{promBridge.NewMetricProducer(promBridge.WithGatherer(partial{g, log}))}))
	provider := sdkmetric.NewMeterProvider(sdkmetric.WithReader(reader), sdkmetric.WithResource(res))
	return provider.Shutdown, nil
}

func newExporter(ctx context.Context, o OTLP) (sdkmetric.Exporter, error) {
	switch o.Protocol {
	case "grpc":
		return otlpmetricgrpc.New(ctx, endpointOptions(o.Endpoint, o.Insecure, otlpmetricgrpc.WithEndpoint, otlpmetricgrpc.WithEndpointURL, otlpmetricgrpc.WithInsecure)...)
	case "http":
		return otlpmetrichttp.New(ctx, endpointOptions(o.Endpoint, o.Insecure, otlpmetrichttp.WithEndpoint, otlpmetrichttp.WithEndpointURL, otlpmetrichttp.WithInsecure)...)
	}
	return nil, unknownProtocol(o.Protocol)
}

// endpointOptions are the options of an OTLP exporter package (its
// WithEndpoint, WithEndpointURL and WithInsecure) for endpoint: a URL's
// scheme decides TLS, insecure turns it off.
func endpointOptions[Option any](endpoint string, insecure bool, hostPort, url func(string) Option, noTLS func() Option) []Option {
	opts := []Option{hostPort(endpoint)}
	if strings.Contains(endpoint, "://") {
		opts = []Option{url(endpoint)}
	}
	if insecure {
		opts = append(opts, noTLS())
	}
	return opts
}

func unknownProtocol(p string) error {
	return fmt.Errorf("unknown OTLP protocol %q: want grpc or http", p)
}

// exporterFor is o's exporter, made by newExp, and the node's resource.
func exporterFor[E any](ctx context.Context, o OTLP, newExp func(context.Context, OTLP) (E, error)) (exp E, res *resource.Resource, err error) {
	if exp, err = newExp(ctx, o); err != nil {
		return exp, nil, fmt.Errorf("otlp exporter: %w", err)
	}
	if res, err = nodeResource(ctx, o.NodeName, o.ClusterName); err != nil {
		return exp, nil, fmt.Errorf("otlp resource: %w", err)
	}
	return exp, res, nil
}

// nodeResource describes this agent, its node and its cluster (when
// named); OTEL_RESOURCE_ATTRIBUTES can add to it.
func nodeResource(ctx context.Context, node, cluster string) (*resource.Resource, error) {
	host, _ := os.Hostname()
	if node == "" {
		node = os.Getenv("NODE_NAME")
	}
	if node == "" {
		node = host
	}
	attrs := []attribute.KeyValue{
		semconv.ServiceName("orb8"),
		semconv.ServiceVersion(version.String()),
		semconv.HostName(host),
		semconv.K8SNodeName(node),
	}
	if cluster != "" {
		attrs = append(attrs, semconv.K8SClusterName(cluster))
	}
	return resource.New(ctx,
		resource.WithFromEnv(),
		resource.WithTelemetrySDK(),
		resource.WithSchemaURL(semconv.SchemaURL),
		resource.WithAttributes(attrs...))
}

// partial passes on what a gather collected even when a collector failed,
// as /metrics does (promhttp.ContinueOnError): the bridge would otherwise
// drop every series of the push for one bad one.
type partial struct {
	g   prometheus.Gatherer
	log *slog.Logger
}

func (p partial) Gather() ([]*dto.MetricFamily, error) {
	families, err := p.g.Gather()
	if err != nil {
		p.log.Warn("otlp export: some series left out", "err", err)
	}
	return families, nil
}
