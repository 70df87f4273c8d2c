package main

import "github.com/grafana/grafana-foundation-sdk/go/dashboard"

// gpu: device health, and what each workload does with the accelerators.
func gpu() *dashboard.DashboardBuilder {
	device := "{{instance}} {{vendor}} {{device}} {{model}}"
	return newDashboard("orb8-gpu", "orb8 / GPU",
		"Accelerator devices (NVML), GPUs per pod (kubelet), and runtime activity per workload (uprobes on the CUDA, HIP and Neuron runtimes).",
		"namespace").
		WithRow(dashboard.NewRowBuilder("Devices")).
		WithPanel(graph("Utilization", "percentunit", "",
			query{`orb8_accelerator_utilization_ratio{` + nodes + `}`, device})).
		WithPanel(graph("Memory used", "bytes", "",
			query{`orb8_accelerator_memory_used_bytes{` + nodes + `}`, "used " + device},
			query{`orb8_accelerator_memory_total_bytes{` + nodes + `}`, "total " + device})).
		WithPanel(graph("Temperature", "celsius", "",
			query{`orb8_accelerator_temperature_celsius{` + nodes + `}`, device})).
		WithPanel(graph("Power", "watt", "",
			query{`orb8_accelerator_power_watts{` + nodes + `}`, device})).
		WithPanel(graph("PCIe throughput", "Bps", "tx: GPU to host.",
			query{`orb8_accelerator_pcie_bytes_per_second{` + nodes + `}`, device + " {{direction}}"})).
		WithPanel(graph("Throttled", "short", "1 while the GPU's clocks are held down, by reason.",
			query{`orb8_accelerator_throttled{` + nodes + `} == 1`, device + " {{reason}}"})).
		WithRow(dashboard.NewRowBuilder("Pods and workloads")).
		WithPanel(graph("GPUs allocated per pod", "short", "GPUs the kubelet assigned, busy or idle.",
			query{`sum by (namespace, pod) (orb8_pod_accelerator_allocated{` + workloadsNS + `})`, "{{namespace}}/{{pod}}"})).
		WithPanel(graph("Utilization per pod", "percentunit", "",
			query{`sum by (namespace, pod, vendor, device) (orb8_pod_accelerator_utilization_ratio{` + workloadsNS + `})`, "{{namespace}}/{{pod}} {{vendor}} {{device}}"},
			query{`sum by (namespace, pod, vendor, device) (orb8_workload_accelerator_utilization_ratio{` + workloadsNS + `})`, "{{namespace}}/{{pod}} {{vendor}} {{device}} (processes)"})).
		WithPanel(graph("Memory per pod", "bytes", "",
			query{`sum by (namespace, pod) (orb8_pod_accelerator_memory_used_bytes{` + workloadsNS + `})`, "{{namespace}}/{{pod}}"},
			query{`sum by (namespace, pod) (orb8_workload_accelerator_memory_used_bytes{` + workloadsNS + `})`, "{{namespace}}/{{pod}} (processes)"})).
		WithPanel(graph("GPU imbalance", "percentunit", "(max - min) / max of utilizations: across a node's GPUs, and across a pod's.",
			query{`orb8_accelerator_imbalance_ratio{` + nodes + `}`, "{{instance}} {{vendor}}"},
			query{`orb8_pod_accelerator_imbalance_ratio{` + workloadsNS + `}`, "{{namespace}}/{{pod}}"})).
		WithRow(dashboard.NewRowBuilder("Runtimes (CUDA, HIP, Neuron)")).
		WithPanel(graph("Kernel launches", "ops", "",
			query{`sum by (namespace, pod, runtime) (rate(orb8_accelerator_kernel_launches_total{` + workloadsNS + `}` + rate + `))`, "{{namespace}}/{{pod}} {{runtime}}"})).
		WithPanel(graph("Memory copies", "Bps", "",
			query{`sum by (runtime, kind) (rate(orb8_accelerator_memcpy_bytes_total{` + workloadsNS + `}` + rate + `))`, "{{runtime}} {{kind}}"})).
		WithPanel(graph("Allocations and frees", "Bps", "",
			query{`sum by (namespace, pod) (rate(orb8_accelerator_malloc_bytes_total{` + workloadsNS + `}` + rate + `))`, "malloc {{namespace}}/{{pod}}"},
			query{`sum by (namespace, pod) (rate(orb8_accelerator_free_bytes_total{` + workloadsNS + `}` + rate + `))`, "free {{namespace}}/{{pod}}"})).
		WithPanel(graph("Outstanding memory and leak suspicion", "bytes", "Device memory allocated and not freed; a series marked leak grew through the whole leak window.",
			query{`sum by (namespace, pod, container) (orb8_accelerator_memory_outstanding_bytes{` + workloadsNS + `})`, "{{namespace}}/{{pod}}/{{container}}"},
			query{`orb8_accelerator_memory_outstanding_bytes{` + workloadsNS + `} and on (cgroup, runtime) (orb8_accelerator_memory_leak_suspected == 1)`, "leak {{namespace}}/{{pod}}/{{container}} {{cgroup}} {{runtime}}"}))
}
