package main

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// fleetClusters selects the clusters picked in the cluster variable (the
// label --cluster-name gives every series).
const fleetClusters = `cluster=~"$cluster"`

// fleetWorkloads selects the workloads of the picked clusters and namespaces.
const fleetWorkloads = fleetClusters + `, namespace=~"$namespace"`

// fleet: every cluster side by side, from a store that holds them all
// (Thanos Query, Mimir): each query keeps the cluster label.
func fleet() *dashboard.DashboardBuilder {
	return withVariables(baseDashboard("orb8-fleet", "orb8 / Fleet",
		"Clusters side by side: agents, activity and the busiest workloads of each, from a store all clusters remote-write to (docs/fleet.md)."),
		"cluster", "Cluster", fleetClusters, "namespace").
		WithRow(dashboard.NewRowBuilder("Clusters")).
		WithPanel(graph("Agents per cluster", "short", "orb8 agents reporting from each cluster.",
			query{`count by (cluster) (orb8_build_info{` + fleetClusters + `})`, "{{cluster}}"})).
		WithPanel(graph("Probes down per cluster", "short", "Probes that could not load or attach, summed over each cluster's agents.",
			query{`sum by (cluster) (orb8_probe_up{` + fleetClusters + `} == bool 0)`, "{{cluster}}"})).
		WithPanel(graph("Tracked workloads per cluster", "short", "Cgroups the agents of each cluster resolve to workloads.",
			query{`sum by (cluster) (orb8_tracked_workloads{` + fleetClusters + `})`, "{{cluster}}"})).
		WithPanel(graph("Programs executed /s per cluster", "ops", "execve calls per cluster.",
			query{`sum by (cluster) (rate(orb8_process_exec_total{` + fleetWorkloads + `}` + rate + `))`, "{{cluster}}"})).
		WithRow(dashboard.NewRowBuilder("Resources")).
		WithPanel(graph("CPU used per cluster", "short", "CPU seconds per second the workloads of each cluster used.",
			query{`sum by (cluster) (rate(orb8_cpu_usage_seconds_total{` + fleetWorkloads + `}` + rate + `))`, "{{cluster}}"})).
		WithPanel(graph("Top workloads by CPU, per cluster", "short", "The 5 workloads of each cluster that used the most CPU.",
			query{`topk by (cluster) (5, sum by (cluster, namespace, pod, container, cgroup) (rate(orb8_cpu_usage_seconds_total{` + fleetWorkloads + `}` + rate + `)))`,
				"{{cluster}} {{namespace}}/{{pod}}/{{container}} {{cgroup}}"})).
		WithPanel(graph("Memory in use per cluster", "bytes", "Memory charged to the workloads' cgroups, per cluster.",
			query{`sum by (cluster) (orb8_memory_usage_bytes{` + fleetWorkloads + `})`, "{{cluster}}"})).
		WithPanel(graph("Top workloads by memory, per cluster", "bytes", "The 5 workloads of each cluster with the most memory charged.",
			query{`topk by (cluster) (5, sum by (cluster, namespace, pod, container, cgroup) (orb8_memory_usage_bytes{` + fleetWorkloads + `}))`,
				"{{cluster}} {{namespace}}/{{pod}}/{{container}} {{cgroup}}"})).
		WithRow(dashboard.NewRowBuilder("GPUs")).
		WithPanel(graph("GPU utilization per cluster", "percentunit", "Mean utilization of each cluster's GPUs (NVML).",
			query{`avg by (cluster) (orb8_accelerator_utilization_ratio{` + fleetClusters + `})`, "{{cluster}}"})).
		WithPanel(graph("GPUs allocated per cluster", "short", "GPUs the kubelets of each cluster assigned to pods, busy or idle.",
			query{`sum by (cluster) (orb8_pod_accelerator_allocated{` + fleetWorkloads + `})`, "{{cluster}}"}))
}
