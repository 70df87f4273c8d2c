package main

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// workloadDetail: everything orb8 sees about the picked pods or containers.
func workloadDetail() *dashboard.DashboardBuilder {
	by := "namespace, pod, container"
	legend := "{{namespace}}/{{pod}}/{{container}}"
	return newDashboard("orb8-workload-detail", "orb8 / Workload detail",
		"Processes, memory, CPU scheduling, syscalls, network, DNS and GPU of the picked workloads.",
		"namespace", "pod", "container").
		WithRow(dashboard.NewRowBuilder("Processes")).
		WithPanel(graph("Processes running", "short", "",
			query{`sum by (` + by + `) (orb8_process_running{` + workloads + `})`, legend})).
		WithPanel(graph("Exec, exit and crash rate", "ops", "",
			query{`sum by (` + by + `) (rate(orb8_process_exec_total{` + workloads + `}` + rate + `))`, "exec " + legend},
			query{`sum by (` + by + `, reason) (rate(orb8_process_exit_total{` + workloads + `}` + rate + `))`, "exit ({{reason}}) " + legend},
			query{`sum by (` + by + `) (rate(orb8_process_crashes_total{` + workloads + `}` + rate + `))`, "crash " + legend})).
		WithRow(dashboard.NewRowBuilder("Memory and files")).
		WithPanel(graph("Memory usage and limit", "bytes", "",
			query{`sum by (` + by + `) (orb8_memory_usage_bytes{` + workloads + `})`, "usage " + legend},
			query{`sum by (` + by + `) (orb8_memory_limit_bytes{` + workloads + `})`, "limit " + legend})).
		WithPanel(graph("OOM ETA", "s", "Predicted time until the memory limit is hit; absent while usage is not growing.",
			query{`min by (` + by + `) (orb8_memory_oom_eta_seconds{` + workloads + `})`, legend})).
		WithPanel(graph("OOM kills", "short", "Processes of the workload the OOM killer chose, per rate window.",
			query{`sum by (` + by + `) (increase(orb8_oom_kills_total{` + workloads + `}` + rate + `))`, legend})).
		WithPanel(graph("Open file descriptors", "short", "",
			query{`sum by (` + by + `) (orb8_open_fds{` + workloads + `})`, "open " + legend},
			query{`min by (` + by + `) (orb8_fd_limit{` + workloads + `})`, "limit " + legend})).
		WithRow(dashboard.NewRowBuilder("CPU scheduling and syscalls")).
		WithPanel(graph("Run queue wait", "s", "Mean time the workload's threads waited runnable for a CPU per timeslice they got. p99 only with the agent's --sched-runqueue-histogram.",
			meanWait(workloads, by, legend),
			quantiles("orb8_sched_runqueue_latency_seconds", workloads, by, legend)[1])).
		WithPanel(graph("CPU pressure", "percentunit", "Share of the time at least one of the workload's runnable threads waited for a CPU (some), or all of them at once (full): cgroup2 cpu.pressure (PSI).",
			query{`sum by (` + by + `) (rate(orb8_cpu_pressure_waiting_seconds_total{` + workloads + `}` + rate + `))`, "some " + legend},
			query{`sum by (` + by + `) (rate(orb8_cpu_pressure_stalled_seconds_total{` + workloads + `}` + rate + `))`, "full " + legend})).
		WithPanel(graph("Top syscalls", "ops", "The ten busiest tracked syscalls (syscalls probe).",
			query{`topk(10, sum by (syscall) (rate(orb8_syscalls_total{` + workloads + `}` + rate + `)))`, "{{syscall}}"})).
		WithPanel(graph("Syscall errors", "ops", "",
			query{`topk(10, sum by (syscall, errno) (rate(orb8_syscall_errors_total{` + workloads + `}` + rate + `)))`, "{{syscall}} {{errno}}"})).
		WithPanel(graph("Syscall latency p99", "s", "",
			query{`histogram_quantile(0.99, sum by (syscall, le) (rate(orb8_syscall_latency_seconds_bucket{` + workloads + `}` + rate + `)))`, "{{syscall}}"})).
		WithRow(dashboard.NewRowBuilder("Network and DNS")).
		WithPanel(graph("Throughput", "Bps", "",
			query{`sum by (protocol, direction) (rate(orb8_network_bytes_total{` + workloads + `}` + rate + `))`, "{{protocol}} {{direction}}"})).
		WithPanel(graph("TCP connections", "short", "",
			query{`sum(orb8_tcp_active_connections{` + workloads + `})`, "active"},
			query{`sum by (direction, result) (rate(orb8_tcp_connections_total{` + workloads + `}` + rate + `))`, "new {{direction}} {{result}} /s"})).
		WithPanel(graph("DNS responses", "reqps", "",
			query{`sum by (rcode) (rate(orb8_dns_responses_total{` + workloads + `}` + rate + `))`, "{{rcode}}"})).
		WithPanel(graph("DNS latency", "s", "",
			quantiles("orb8_dns_latency_seconds", workloads, "", "")...)).
		WithRow(dashboard.NewRowBuilder("GPU")).
		WithPanel(graph("GPU utilization", "percentunit", "",
			query{`sum by (` + by + `, vendor, device) (orb8_workload_accelerator_utilization_ratio{` + workloads + `})`, "{{vendor}} {{device}} " + legend})).
		WithPanel(graph("CUDA memory outstanding", "bytes", "Device memory allocated and not freed by the workload's live processes.",
			query{`sum by (` + by + `) (orb8_accelerator_memory_outstanding_bytes{` + workloads + `})`, legend},
			query{`sum by (` + by + `) (orb8_workload_accelerator_memory_used_bytes{` + workloads + `})`, "device " + legend}))
}
