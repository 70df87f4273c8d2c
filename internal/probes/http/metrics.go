package http

import (
	"strconv"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
)

// metrics are the series the probe exports: what Describe sends.
var metrics series.Set

var (
	requestsDesc = metrics.Workload("orb8_http_requests_total",
		"HTTP/1.x and HTTP/2 requests (gRPC calls only if their response ended without a grpc-status) the workload served (direction server) or sent (client) that got a response, by method and status code.",
		"direction", "method", "status_code")
	durationDesc = metrics.WorkloadHistogram("orb8_http_request_duration_seconds",
		"Time from an HTTP request's first byte to its response's first byte, as the workload's socket saw them.",
		series.Log2Bounds(), "direction")
	grpcRequestsDesc = metrics.Workload("orb8_grpc_requests_total",
		"gRPC calls over plaintext HTTP/2 the workload served (direction server) or sent (client) that ended, by the grpc-status of their trailers (0..16).",
		"direction", "grpc_status")
	grpcDurationDesc = metrics.WorkloadHistogram("orb8_grpc_request_duration_seconds",
		"Time from a gRPC call's request HEADERS to its response HEADERS, as the workload's socket saw them.",
		series.Log2Bounds(), "direction")
	droppedDesc = metrics.Plain("orb8_http_dropped_total",
		"HTTP messages or requests the probe could not fully account for, by reason.", "reason")
	tlsLibrariesDesc = metrics.Plain("orb8_http_tls_libraries_hooked",
		"libssl files (OpenSSL-compatible) with uprobes on SSL_read and SSL_write attached, whose processes' HTTPS is counted (with --http-tls).")
	tlsGoExecutablesDesc = metrics.Plain("orb8_http_tls_go_executables_hooked",
		"Go executables with uprobes on crypto/tls (*Conn).Read and Write attached, whose processes' HTTPS is counted (with --http-tls, amd64).")
)

// directionLabels by serverIndex.
var directionLabels = [2]string{"client", "server"}

// Describe implements probe.Probe.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Collect implements probe.Probe: a copy of the counts, folded by
// workload (a cgroup recreated under the same path has a new id).
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	if p.tracker == nil {
		return nil
	}
	stats, dropped := p.tracker.snapshot()
	if err := p.kernelCounts(stats); err != nil {
		return err
	}
	folded := probe.FoldVisible(stats, p.env.Resolver, (*workloadStats).add)
	for w, ws := range folded {
		row := series.NewRow(w)
		for k, n := range ws.requests {
			ch <- row.Metric(requestsDesc, prometheus.CounterValue, float64(n),
				directionLabels[serverIndex(k.server)], k.method, strconv.Itoa(k.status))
		}
		for k, n := range ws.grpc {
			ch <- row.Metric(grpcRequestsDesc, prometheus.CounterValue, float64(n),
				directionLabels[serverIndex(k.server)], strconv.Itoa(k.status))
		}
		histograms(ch, row, durationDesc, &ws.duration)
		histograms(ch, row, grpcDurationDesc, &ws.grpcDur)
	}
	if p.tls != nil {
		libs, exes := p.tls.hooked()
		if p.tls.enter != nil {
			ch <- prometheus.MustNewConstMetric(tlsLibrariesDesc, prometheus.GaugeValue, float64(libs))
		}
		if p.tls.goProgs.write != nil {
			ch <- prometheus.MustNewConstMetric(tlsGoExecutablesDesc, prometheus.GaugeValue, float64(exes))
		}
	}
	for reason, n := range dropped {
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(n), dropReasonNames[reason])
	}
	return nil
}

// histograms sends the client and server histograms that hold samples.
func histograms(ch chan<- prometheus.Metric, row *series.Row, desc *series.Desc, hs *[2]series.Log2Hist) {
	for i := range hs {
		if h := &hs[i]; h.SumNs > 0 || h.Slots != [series.Log2Slots]uint64{} {
			ch <- row.Histogram(desc, h, directionLabels[i])
		}
	}
}
