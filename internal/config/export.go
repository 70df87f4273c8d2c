package config

import (
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/spf13/pflag"
)

// Export holds how series leave the agent: the per-metric cap that applies
// to /metrics and OTLP alike, and the OTLP push (off while OTLPEndpoint is empty).
type Export struct {
	MaxSeriesPerMetric int
	OTLPEndpoint       string
	OTLPProtocol       string
	OTLPInterval       time.Duration
	OTLPInsecure       bool
}

func defaultExport() Export {
	return Export{MaxSeriesPerMetric: 20000, OTLPProtocol: "grpc", OTLPInterval: 30 * time.Second}
}

func (e *Export) bindFlags(fs *pflag.FlagSet) {
	fs.IntVar(&e.MaxSeriesPerMetric, "max-series-per-metric", e.MaxSeriesPerMetric, "most series one metric exports; the rest are counted in orb8_series_dropped_total (0: no cap)")
	fs.StringVar(&e.OTLPEndpoint, "otlp-endpoint", e.OTLPEndpoint, "push metrics over OTLP to HOST:PORT or a URL (http://host:4318/v1/metrics); empty: off")
	fs.StringVar(&e.OTLPProtocol, "otlp-protocol", e.OTLPProtocol, "OTLP transport: grpc or http")
	fs.DurationVar(&e.OTLPInterval, "otlp-interval", e.OTLPInterval, "how often metrics are pushed over OTLP")
	fs.BoolVar(&e.OTLPInsecure, "otlp-insecure", e.OTLPInsecure, "push OTLP without TLS")
}

func (e *Export) validate() error {
	if e.MaxSeriesPerMetric < 0 {
		return fmt.Errorf("--max-series-per-metric must not be negative (0 means no cap)")
	}
	if e.OTLPProtocol != "grpc" && e.OTLPProtocol != "http" {
		return fmt.Errorf("invalid --otlp-protocol %q: want grpc or http", e.OTLPProtocol)
	}
	if e.OTLPEndpoint == "" {
		return nil
	}
	if e.OTLPInterval <= 0 {
		return fmt.Errorf("--otlp-interval must be positive, e.g. 30s")
	}
	if !strings.Contains(e.OTLPEndpoint, "://") {
		return checkAddr("otlp-endpoint", e.OTLPEndpoint)
	}
	u, err := url.Parse(e.OTLPEndpoint)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("invalid --otlp-endpoint %q: want HOST:PORT or http(s)://HOST:PORT[/path]", e.OTLPEndpoint)
	}
	return nil
}
