package main

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// networkAndDNS: traffic, TCP health and DNS of the picked workloads.
func networkAndDNS() *dashboard.DashboardBuilder {
	return newDashboard("orb8-network-dns", "orb8 / Network and DNS",
		"L4 traffic, TCP connections, retransmits and RTT, and DNS per workload, from cgroup_skb, sockops and tracepoints.",
		"namespace").
		WithRow(dashboard.NewRowBuilder("Traffic")).
		WithPanel(graph("Throughput by namespace", "Bps", "L4 payload bytes.",
			query{`sum by (namespace, direction) (rate(orb8_network_bytes_total{` + workloadsNS + `}` + rate + `))`, "{{namespace}} {{direction}}"})).
		WithPanel(graph("Packets by protocol", "pps", "",
			query{`sum by (protocol, direction) (rate(orb8_network_packets_total{` + workloadsNS + `}` + rate + `))`, "{{protocol}} {{direction}}"})).
		WithRow(dashboard.NewRowBuilder("TCP")).
		WithPanel(graph("Connections", "ops", "New connections by direction and result.",
			query{`sum by (direction, result) (rate(orb8_tcp_connections_total{` + workloadsNS + `}` + rate + `))`, "{{direction}} {{result}}"})).
		WithPanel(graph("Active connections", "short", "",
			query{`sum by (namespace) (orb8_tcp_active_connections{` + workloadsNS + `})`, "{{namespace}}"})).
		WithPanel(graph("Retransmit ratio", "percentunit", "Retransmitted segments over TCP data segments sent.",
			query{`sum by (namespace) (rate(orb8_tcp_retransmits_total{` + workloadsNS + `}` + rate + `)) / sum by (namespace) (rate(orb8_network_packets_total{protocol="tcp", direction="tx", ` + workloadsNS + `}` + rate + `))`, "{{namespace}}"})).
		WithPanel(graph("Round-trip time", "s", "",
			quantiles("orb8_tcp_rtt_seconds", workloadsNS, "namespace", "{{namespace}}")...)).
		WithPanel(graph("State transitions", "ops", "",
			query{`sum by (state) (rate(orb8_tcp_state_transitions_total{` + workloadsNS + `}` + rate + `))`, "{{state}}"})).
		WithPanel(graph("Flow table", "short", "Flows the network probe holds, and evictions from its full table.",
			query{`orb8_flow_table_flows{` + nodes + `}`, "flows {{instance}}"},
			query{`rate(orb8_flow_table_evictions_total{` + nodes + `}` + rate + `)`, "evictions/s {{instance}}"})).
		WithRow(dashboard.NewRowBuilder("DNS")).
		WithPanel(graph("Queries by type", "reqps", "",
			query{`sum by (qtype) (rate(orb8_dns_queries_total{` + workloadsNS + `}` + rate + `))`, "{{qtype}}"})).
		WithPanel(graph("Responses by code", "reqps", "",
			query{`sum by (rcode) (rate(orb8_dns_responses_total{` + workloadsNS + `}` + rate + `))`, "{{rcode}}"})).
		WithPanel(graph("SERVFAIL and NXDOMAIN share", "percentunit", "",
			query{`sum by (namespace, rcode) (rate(orb8_dns_responses_total{rcode=~"SERVFAIL|NXDOMAIN", ` + workloadsNS + `}` + rate + `)) / on (namespace) group_left sum by (namespace) (rate(orb8_dns_responses_total{` + workloadsNS + `}` + rate + `))`, "{{namespace}} {{rcode}}"})).
		WithPanel(graph("Latency", "s", "Query to response, as the workload's socket saw it.",
			quantiles("orb8_dns_latency_seconds", workloadsNS, "namespace", "{{namespace}}")...)).
		WithPanel(graph("Unanswered queries", "reqps", "Queries without a response within the timeout.",
			query{`sum by (namespace, qtype) (rate(orb8_dns_unanswered_total{` + workloadsNS + `}` + rate + `))`, "{{namespace}} {{qtype}}"}))
}

// workloadsNS selects the picked nodes and namespaces.
const workloadsNS = nodes + `, namespace=~"$namespace"`
