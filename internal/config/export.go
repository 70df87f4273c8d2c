package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/orb8/orb8/internal/export"
	"github.com/orb8/orb8/internal/series"
)

// Export holds how series leave the agent: their shaping (aggregation
// level, families left out, per-family settings of the config file's
// metrics key) and the per-metric cap, which apply to /metrics and OTLP
// alike, and the OTLP push (off while OTLPEndpoint is empty).
type Export struct {
	Aggregation        string
	DisableMetrics     []string
	EnableMetrics      []string
	NativeHistograms   []string
	Metrics            map[string]series.FamilyShape
	MaxSeriesPerMetric int
	OTLPEndpoint       string
	OTLPProtocol       string
	OTLPInterval       time.Duration
	OTLPInsecure       bool
	// OTLPTracesEndpoint is where the spans of HTTP requests go, with
	// OTLPProtocol and OTLPInsecure (off while empty).
	OTLPTracesEndpoint string
	// ClusterName, when set, labels every exported series cluster=<name>
	// (OTLP: the resource attribute k8s.cluster.name).
	ClusterName string
}

func defaultExport() Export {
	return Export{Aggregation: series.LevelCgroup.String(), MaxSeriesPerMetric: 20000, OTLPProtocol: "grpc", OTLPInterval: 30 * time.Second}
}

func (e *Export) bindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&e.Aggregation, "aggregation", e.Aggregation, "level per-workload series are exported at: "+strings.Join(series.Levels(), ", ")+
		" (owner: the pod's controlling workload, with owner_kind and owner_name labels); the config file's metrics key sets it per family")
	fs.StringSliceVar(&e.DisableMetrics, "disable-metrics", e.DisableMetrics, `metric families not to export, by name; "all" for every family`)
	fs.StringSliceVar(&e.EnableMetrics, "enable-metrics", e.EnableMetrics, "metric families to export even where --disable-metrics or the config file leaves them out")
	fs.StringSliceVar(&e.NativeHistograms, "native-histograms", e.NativeHistograms, `log2 histogram families also exported as native histograms (protobuf scrapes, OTLP exponential), by name; "all" for every one`)
	fs.IntVar(&e.MaxSeriesPerMetric, "max-series-per-metric", e.MaxSeriesPerMetric, "most series one metric exports; the rest are counted in orb8_series_dropped_total (0: no cap)")
	fs.StringVar(&e.OTLPEndpoint, "otlp-endpoint", e.OTLPEndpoint, "push metrics over OTLP to HOST:PORT or a URL (http://host:4318/v1/metrics), and with --policy-dir the audit records as OTLP logs (/v1/logs); empty: off")
	fs.StringVar(&e.OTLPProtocol, "otlp-protocol", e.OTLPProtocol, "OTLP transport: grpc or http")
	fs.DurationVar(&e.OTLPInterval, "otlp-interval", e.OTLPInterval, "how often metrics are pushed over OTLP")
	fs.BoolVar(&e.OTLPInsecure, "otlp-insecure", e.OTLPInsecure, "push OTLP without TLS")
	fs.StringVar(&e.OTLPTracesEndpoint, "otlp-traces-endpoint", e.OTLPTracesEndpoint, "send a span of each HTTP request the http probe sees over OTLP to HOST:PORT or a URL (http://host:4318/v1/traces), with --otlp-protocol and --otlp-insecure; empty: off")
	fs.StringVar(&e.ClusterName, "cluster-name", e.ClusterName, `the fleet cluster this agent belongs to: every series on /metrics gets the label cluster="NAME", OTLP the resource attribute k8s.cluster.name; empty: none`)
}

// Shaping is what the export settings make of each metric family.
func (e *Export) Shaping() series.Shaping {
	level, _ := series.ParseLevel(e.Aggregation) // Validate reports a bad one
	return series.Shaping{Aggregation: level, Families: e.Metrics, Disable: e.DisableMetrics, Enable: e.EnableMetrics, Native: e.NativeHistograms}
}

func (e *Export) validate() error {
	if _, err := series.ParseLevel(e.Aggregation); err != nil {
		return fmt.Errorf("--aggregation: %w", err)
	}
	if e.MaxSeriesPerMetric < 0 {
		return fmt.Errorf("--max-series-per-metric must not be negative (0 means no cap)")
	}
	if e.ClusterName != "" {
		if err := export.ValidClusterName(e.ClusterName); err != nil {
			return fmt.Errorf("--cluster-name: %w", err)
		}
	}
	if e.OTLPProtocol != "grpc" && e.OTLPProtocol != "http" {
		return fmt.Errorf("invalid --otlp-protocol %q: want grpc or http", e.OTLPProtocol)
	}
	if e.OTLPTracesEndpoint != "" {
		if err := checkEndpoint("otlp-traces-endpoint", e.OTLPTracesEndpoint); err != nil {
			return err
		}
	}
	if e.OTLPEndpoint == "" {
		return nil
	}
	if e.OTLPInterval <= 0 {
		return fmt.Errorf("--otlp-interval must be positive, e.g. 30s")
	}
	return checkEndpoint("otlp-endpoint", e.OTLPEndpoint)
}

// checkEndpoint checks the OTLP endpoint of flag: HOST:PORT or an http(s) URL.
func checkEndpoint(flag, endpoint string) error {
	if !strings.Contains(endpoint, "://") {
		return checkAddr(flag, endpoint)
	}
	u, err := url.Parse(endpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid --%s %q: want HOST:PORT or http(s)://HOST:PORT[/path]", flag, endpoint)
	}
	return nil
}
