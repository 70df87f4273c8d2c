package main

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// clusterOverview: is every agent healthy, and which namespaces are busy,
// failing or short of memory, across the picked nodes.
func clusterOverview() *dashboard.DashboardBuilder {
	return newDashboard("orb8-cluster-overview", "orb8 / Cluster overview",
		"Agent health and per-namespace activity across nodes, from orb8's eBPF probes.").
		WithRow(dashboard.NewRowBuilder("Agents")).
		WithPanel(single("Agents", "short", "orb8 agents reporting.",
			`count(orb8_build_info{`+nodes+`})`, nil)).
		WithPanel(single("Probes down", "short", "Probes that could not load or attach (orb8_probe_up == 0).",
			`count(orb8_probe_up{`+nodes+`} == 0) or vector(0)`, above(1))).
		WithPanel(single("Events lost /s", "short", "Ring buffer records the kernel dropped because the agent fell behind.",
			`sum(rate(orb8_events_lost_total{`+nodes+`}`+rate+`)) or vector(0)`, above(0.001))).
		WithPanel(single("Series dropped /s", "short", "Series left out because a metric reached --max-series-per-metric.",
			`sum(rate(orb8_series_dropped_total{`+nodes+`}`+rate+`)) or vector(0)`, above(0.001))).
		WithPanel(graph("Tracked workloads", "short", "Cgroups each agent resolves to workloads.",
			query{`orb8_tracked_workloads{` + nodes + `}`, "{{instance}}"})).
		WithPanel(graph("BPF CPU time by probe", "percentunit", "Share of one CPU the kernel spends in each probe's BPF programs (empty unless the agent runs with --bpf-stats).",
			query{`sum by (probe) (rate(orb8_bpf_program_run_seconds_total{` + nodes + `}` + rate + `))`, "{{probe}}"})).
		WithRow(dashboard.NewRowBuilder("Workloads by namespace")).
		WithPanel(graph("Programs executed /s", "ops", "execve calls per namespace (empty: outside Kubernetes).",
			query{`sum by (namespace) (rate(orb8_process_exec_total{` + nodes + `}` + rate + `))`, "{{namespace}}"})).
		WithPanel(graph("Crashes /s", "ops", "Processes ended by a fault signal or with a core dump.",
			query{`sum by (namespace) (rate(orb8_process_crashes_total{` + nodes + `}` + rate + `))`, "{{namespace}}"})).
		WithPanel(graph("Memory in use", "bytes", "Memory charged to the namespace's cgroups.",
			query{`sum by (namespace) (orb8_memory_usage_bytes{` + nodes + `})`, "{{namespace}}"})).
		WithPanel(graph("OOM kills", "short", "OOM killer victims in the picked time range's rate window.",
			query{`sum by (namespace) (increase(orb8_oom_kills_total{` + nodes + `}` + rate + `))`, "{{namespace}}"})).
		WithPanel(graph("Network throughput", "Bps", "L4 payload bytes per namespace and direction.",
			query{`sum by (namespace, direction) (rate(orb8_network_bytes_total{` + nodes + `}` + rate + `))`, "{{namespace}} {{direction}}"})).
		WithPanel(graph("DNS queries /s", "reqps", "DNS queries sent per namespace.",
			query{`sum by (namespace) (rate(orb8_dns_queries_total{` + nodes + `}` + rate + `))`, "{{namespace}}"})).
		WithPanel(graph("Run queue wait", "s", "Mean time runnable threads of all the node's workloads waited for a CPU per timeslice they got.",
			meanWait(nodes, "instance", "{{instance}}"))).
		WithPanel(graph("GPU utilization", "percentunit", "Mean utilization of each node's GPUs.",
			query{`avg by (instance) (orb8_accelerator_utilization_ratio{` + nodes + `})`, "{{instance}}"}))
}
