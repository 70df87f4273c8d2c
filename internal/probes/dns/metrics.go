package dns

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
)

// metrics are the series the probe exports: what Describe sends.
var metrics series.Set

var (
	queriesDesc    = metrics.Workload("orb8_dns_queries_total", "DNS queries the workload sent, by query type.", "qtype")
	responsesDesc  = metrics.Workload("orb8_dns_responses_total", "DNS responses the workload received, by query type and response code.", "qtype", "rcode")
	latencyDesc    = metrics.WorkloadHistogram("orb8_dns_latency_seconds", "Time from a DNS query to its response, as the workload's socket saw them.", latencyBuckets)
	unansweredDesc = metrics.Workload("orb8_dns_unanswered_total", "DNS queries of the workload without a response within the timeout, by query type.", "qtype")
	unmatchedDesc  = metrics.Workload("orb8_dns_unmatched_responses_total", "DNS responses whose query was not seen (late after the timeout, or sent before the probe started).")
	droppedDesc    = metrics.Plain("orb8_dns_dropped_total", "DNS messages or queries the probe could not account for, by reason.", "reason")
)

// snapshot is a copy of the counts by cgroup, the kernel's (UDP) and the
// tracker's (TCP, and the unanswered queries of both) together.
func (p *Probe) snapshot() (map[uint64]*workloadStats, [numDropReasons]uint64, error) {
	stats, dropped := p.tracker.snapshot()
	err := p.kernelStats(stats, &dropped)
	return stats, dropped, err
}

// Describe implements probe.Probe.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Collect implements probe.Probe: a copy of the counts, folded by
// workload (a cgroup recreated under the same path has a new id).
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	if p.tracker == nil {
		return nil
	}
	stats, dropped, err := p.snapshot()
	if err != nil {
		return err
	}
	folded := probe.FoldVisible(stats, p.env.Resolver, (*workloadStats).add)
	for w, ws := range folded {
		row := series.NewRow(w)
		for qtype, n := range ws.queries {
			ch <- row.Metric(queriesDesc, prometheus.CounterValue, float64(n), qtype)
		}
		for k, n := range ws.responses {
			ch <- row.Metric(responsesDesc, prometheus.CounterValue, float64(n), k.qtype, k.rcode)
		}
		for qtype, n := range ws.unanswered {
			ch <- row.Metric(unansweredDesc, prometheus.CounterValue, float64(n), qtype)
		}
		ch <- row.Metric(unmatchedDesc, prometheus.CounterValue, float64(ws.unmatched))
		ch <- prometheus.MustNewConstHistogram(latencyDesc.Desc, ws.latency.count, ws.latency.sum, ws.latency.cumulative(), w.LabelValues()...)
	}
	for reason, n := range dropped {
		ch <- prometheus.MustNewConstMetric(droppedDesc, prometheus.CounterValue, float64(n), dropReasonNames[reason])
	}
	return nil
}
