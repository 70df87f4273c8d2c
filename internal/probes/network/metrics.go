package network

import (
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
)

// metrics are the series the probe exports: what Describe sends.
var metrics series.Set

var (
	bytesDesc = metrics.Workload("orb8_network_bytes_total",
		"L4 payload bytes the workload's sockets sent (tx) and received (rx); TCP counts what applications wrote and read, never headers or retransmissions.",
		"protocol", "direction")
	packetsDesc = metrics.Workload("orb8_network_packets_total",
		"Payload-carrying packets of the workload's sockets: TCP data segments (retransmissions included), UDP datagrams.",
		"protocol", "direction")
	connectionsDesc = metrics.Workload("orb8_tcp_connections_total",
		"TCP connection attempts by direction and result: ok (handshake completed) or failed (refused, timed out, reset, aborted).",
		"direction", "result")
	activeDesc      = metrics.Workload("orb8_tcp_active_connections", "TCP connections of the workload that completed the handshake and have not closed.")
	retransmitsDesc = metrics.Workload("orb8_tcp_retransmits_total", "TCP segments retransmitted by the workload's sockets, SYN and SYN-ACK retransmissions included.")
	rttDesc         = metrics.WorkloadHistogram("orb8_tcp_rtt_seconds", "Smoothed TCP round-trip time (the kernel's srtt) of the workload's sending connections, sampled when their counts are taken (at the close, and at each scrape while open), at most once per jiffy per connection.", series.Log2Bounds())
	transitionsDesc = metrics.Workload("orb8_tcp_state_transitions_total", "TCP state changes of the workload's sockets, by the state entered.", "state")

	flowsDesc     = metrics.Plain("orb8_flow_table_flows", "Flows held in the network probe's flow table.")
	evictionsDesc = metrics.Plain("orb8_flow_table_evictions_total", "Flows evicted from the full flow table, least recently active first.")
)

// Describe implements probe.Probe.
func (p *Probe) Describe(ch chan<- *prometheus.Desc) { metrics.Describe(ch) }

// Collect implements probe.Probe: one pass over the in-kernel table, after
// the flow walk has taken what open connections moved into it (their
// counts are otherwise taken at their close). Without the walk, the
// probe reports itself degraded and counts move at closes only.
func (p *Probe) Collect(ch chan<- prometheus.Metric) error {
	_ = p.refresh()
	flows, evictions := p.flows.stats()
	ch <- prometheus.MustNewConstMetric(flowsDesc, prometheus.GaugeValue, float64(flows))
	ch <- prometheus.MustNewConstMetric(evictionsDesc, prometheus.CounterValue, float64(evictions))
	p.mu.Lock()
	stats := p.bpf.Stats // nil unless running
	p.mu.Unlock()
	if stats == nil {
		return nil
	}
	rows := series.RowsTo(ch)
	return probe.CollectPerCPURows(rows, &p.rows, stats, p.env.Resolver, addStats, func(row *series.Row, s *networkNetStats) {
		counter := func(d *series.Desc, v uint64, extra ...string) {
			row.Send(d, prometheus.CounterValue, float64(v), extra...)
		}
		for dir, name := range []string{"tx", "rx"} {
			counter(bytesDesc, s.TcpBytes[dir], "tcp", name)
			counter(bytesDesc, s.UdpBytes[dir], "udp", name)
			counter(packetsDesc, s.TcpPackets[dir], "tcp", name)
			counter(packetsDesc, s.UdpPackets[dir], "udp", name)
		}
		for dir, name := range []string{"outbound", "inbound"} {
			counter(connectionsDesc, s.Connections[dir][0], name, "ok")
			counter(connectionsDesc, s.Connections[dir][1], name, "failed")
		}
		row.Send(activeDesc, prometheus.GaugeValue, float64(max(s.Active, 0)))
		counter(retransmitsDesc, s.Retransmits)
		row.SendHistogram(rttDesc, rtt(s))
		for state, n := range s.Transitions {
			if n > 0 { // a series per state the workload's sockets entered
				counter(transitionsDesc, n, stateName(uint8(state)))
			}
		}
	})
}

// rtt views the generated twin of struct orb8_log2_hist as series.Log2Hist: same layout.
func rtt(s *networkNetStats) *series.Log2Hist { return (*series.Log2Hist)(unsafe.Pointer(&s.Rtt)) }

func addStats(dst, src *networkNetStats) {
	for i := range 2 {
		dst.TcpBytes[i] += src.TcpBytes[i]
		dst.TcpPackets[i] += src.TcpPackets[i]
		dst.UdpBytes[i] += src.UdpBytes[i]
		dst.UdpPackets[i] += src.UdpPackets[i]
		for j := range 2 {
			dst.Connections[i][j] += src.Connections[i][j]
		}
	}
	dst.Active += src.Active
	dst.Retransmits += src.Retransmits
	for i := range dst.Transitions {
		dst.Transitions[i] += src.Transitions[i]
	}
	rtt(dst).Add(rtt(src))
}
