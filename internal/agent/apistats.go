package agent

import (
	"github.com/prometheus/client_golang/prometheus"
)

var (
	apiStreamsDesc = prometheus.NewDesc("orb8_api_streams", "Event streams the API serves now.", nil, nil)
	apiDroppedDesc = prometheus.NewDesc("orb8_api_stream_events_dropped_total",
		"Events the API dropped for clients that read too slowly (their buffer was full).", nil, nil)
	apiEvictedDesc = prometheus.NewDesc("orb8_api_streams_evicted_total",
		"Event streams the API ended because their client left its events unread.", nil, nil)
	dnsLogDroppedDesc = prometheus.NewDesc("orb8_api_dns_log_dropped_total",
		"DNS lookups the API's log of recent lookups missed because it fell behind.", nil, nil)
)

// apiCollector exports what the API loses and holds.
type apiCollector struct{ x *API }

func (c apiCollector) Describe(ch chan<- *prometheus.Desc) {
	ch <- apiStreamsDesc
	ch <- apiDroppedDesc
	ch <- apiEvictedDesc
	ch <- dnsLogDroppedDesc
}

func (c apiCollector) Collect(ch chan<- prometheus.Metric) {
	open, dropped, evicted := c.x.svc.StreamStats()
	ch <- prometheus.MustNewConstMetric(apiStreamsDesc, prometheus.GaugeValue, float64(open))
	ch <- prometheus.MustNewConstMetric(apiDroppedDesc, prometheus.CounterValue, float64(dropped))
	ch <- prometheus.MustNewConstMetric(apiEvictedDesc, prometheus.CounterValue, float64(evicted))
	if c.x.dnsLog != nil {
		ch <- prometheus.MustNewConstMetric(dnsLogDroppedDesc, prometheus.CounterValue, float64(c.x.dnsLog.Dropped()))
	}
}
