package insights

import (
	"context"
	"fmt"
	"sort"
	"strings"
)

// CostBy is what cost rows add up: workloads, namespaces or nodes.
type CostBy string

// The ways Cost groups.
const (
	ByWorkload  CostBy = "workload"
	ByNamespace CostBy = "namespace"
	ByNode      CostBy = "node"
)

// CostOptions are the parameters of Cost.
type CostOptions struct {
	Filter Filter
	Window Window
	Prices Prices
	By     CostBy
}

// hoursPerMonth is the month cost_per_month scales to (365 * 24 / 12).
const hoursPerMonth = 730

// CostRow is the cost of one workload, namespace or node over the window.
// A workload's cost is its allocation, max(request, usage) of each
// resource, times the resource's price, over the time it ran; a node's is
// its price (its type's, else its capacity at the resource prices), of
// which what no workload was allocated is idle.
type CostRow struct {
	By string `json:"by"`
	Workload
	NodeType string `json:"node_type,omitempty"`
	// Hours is how long within the window it ran (a workload: any of its
	// pods; a node: while it reported its capacity).
	Hours          float64 `json:"hours"`
	CPUCoreHours   float64 `json:"cpu_core_hours"`
	MemoryGiBHours float64 `json:"memory_gib_hours"`
	GPUHours       float64 `json:"gpu_hours"`
	CPUCost        float64 `json:"cpu_cost"`
	MemoryCost     float64 `json:"memory_cost"`
	GPUCost        float64 `json:"gpu_cost"`
	// GPUIdleCost is the cost of GPU time allocated but not busy (absent
	// where no GPU utilization was measured).
	GPUIdleCost *float64 `json:"gpu_idle_cost,omitempty"`
	Cost        float64  `json:"cost"`
	// CostPerMonth is Cost at its rate while it ran, over 730 hours.
	CostPerMonth float64 `json:"cost_per_month"`
	// Nodes only: what their workloads were allocated, and the rest.
	AllocatedCost *float64 `json:"allocated_cost,omitempty"`
	IdleCost      *float64 `json:"idle_cost,omitempty"`
}

// instanceTypeLabel is the node label a node's type is priced by.
const instanceTypeLabel = "node.kubernetes.io/instance-type"

// nodeStep is a node's capacity and type at one step.
type nodeStep struct {
	cpu, mem, gpu float64
	typ           string
}

// nodeInfo names a node and holds its steps (by unix second).
type nodeInfo struct {
	name  string
	steps map[int64]*nodeStep
}

// factor scales the resource prices on a node of a priced type so that its
// resources add up to the type's price (OpenCost prices a node's CPU and
// memory in proportion the same way); 1 otherwise.
func (p Prices) factor(n *nodeStep) float64 {
	if n == nil {
		return 1
	}
	typePrice, ok := p.NodeTypes[n.typ]
	capacity := n.cpu*p.CPUCoreHour + n.mem/(1<<30)*p.MemoryGiBHour + n.gpu*p.GPUHour
	if !ok || capacity <= 0 {
		return 1
	}
	return typePrice / capacity
}

// hourly is a node's price per hour at one step.
func (p Prices) hourly(n *nodeStep) float64 {
	if v, ok := p.NodeTypes[n.typ]; ok {
		return v
	}
	return n.cpu*p.CPUCoreHour + n.mem/(1<<30)*p.MemoryGiBHour + n.gpu*p.GPUHour
}

// Cost is the cost of each workload, namespace or node over the window.
func Cost(ctx context.Context, src Source, o CostOptions) ([]CostRow, error) {
	if err := o.Prices.validate(); err != nil {
		return nil, err
	}
	if len(o.Prices.NodeTypes) > 0 && o.Prices.CPUCoreHour == 0 && o.Prices.MemoryGiBHour == 0 {
		return nil, fmt.Errorf("node type prices are split over CPU and memory in proportion to their prices: give --price-cpu-core-hour and --price-memory-gib-hour too")
	}
	if o.By == ByNode && !o.Filter.empty() {
		return nil, fmt.Errorf("cost by node covers every workload of the nodes: drop the workload filters")
	}
	w, f := o.Window, o.Filter
	const by = "instance"
	cpu, err := rangeQuery(ctx, src, w, f, by, "rate", "orb8_cpu_usage_seconds_total")
	if err != nil {
		return nil, err
	}
	mem, err := rangeQuery(ctx, src, w, f, by, "avg_over_time", "orb8_memory_usage_bytes")
	if err != nil {
		return nil, err
	}
	req, err := rangeQuery(ctx, src, w, f, by+",resource", "last_over_time", "orb8_workload_resource_requests")
	if err != nil {
		return nil, err
	}
	gpuUtil, err := src.Range(ctx, fmt.Sprintf("sum by (%s) (avg_over_time(%s[%s]))", withLabels(by),
		f.selector("orb8_workload_accelerator_utilization_ratio"), promDuration(w.Step)), w)
	if err != nil {
		return nil, err
	}
	nodes, err := nodeSteps(ctx, src, w)
	if err != nil {
		return nil, err
	}
	own, err := owners(ctx, src, f, w)
	if err != nil {
		return nil, err
	}

	type key struct{ cgroup, instance string }
	k := func(l map[string]string) key { return key{l["cgroup"], l["instance"]} }
	type acc struct {
		labels                 map[string]string
		cpu, mem, util         map[int64]float64
		reqCPU, reqMem, reqGPU map[int64]float64
	}
	all := map[key]*acc{}
	get := func(l map[string]string) *acc {
		a := all[k(l)]
		if a == nil {
			a = &acc{labels: l, cpu: map[int64]float64{}, mem: map[int64]float64{}, util: map[int64]float64{},
				reqCPU: map[int64]float64{}, reqMem: map[int64]float64{}, reqGPU: map[int64]float64{}}
			all[k(l)] = a
		}
		return a
	}
	fill := func(series []Series, pick func(a *acc, l map[string]string) map[int64]float64) {
		for _, s := range series {
			m := pick(get(s.Labels), s.Labels)
			if m == nil {
				continue
			}
			for _, p := range s.Points {
				m[p.T.Unix()] = p.V
			}
		}
	}
	fill(cpu, func(a *acc, _ map[string]string) map[int64]float64 { return a.cpu })
	fill(mem, func(a *acc, _ map[string]string) map[int64]float64 { return a.mem })
	fill(gpuUtil, func(a *acc, _ map[string]string) map[int64]float64 { return a.util })
	fill(req, func(a *acc, l map[string]string) map[int64]float64 {
		switch l["resource"] {
		case "cpu":
			return a.reqCPU
		case "memory":
			return a.reqMem
		case "nvidia.com/gpu", "amd.com/gpu":
			return a.reqGPU
		}
		return nil
	})

	// Workloads: the leaves of the cgroup tree (a pod's cgroup holds its
	// containers'), sandboxes included (they run for the pod too).
	var bases []Series
	for _, a := range all {
		bases = append(bases, Series{Labels: a.labels})
	}
	leaf := leaves(bases)
	hours := w.Step.Hours()
	rows := map[string]*CostRow{}
	rowSteps := map[string]map[int64]bool{} // steps each row ran
	rowPods := map[string]map[string]bool{}
	rowLatest := map[string]int64{}
	var order []string
	nodeAlloc := map[string]map[int64]float64{} // instance -> step -> allocated cost
	row := func(rk string, init func() CostRow) *CostRow {
		r := rows[rk]
		if r == nil {
			v := init()
			r = &v
			rows[rk] = r
			order = append(order, rk)
		}
		return r
	}
	keys := make([]key, 0, len(all))
	for kk := range all {
		keys = append(keys, kk)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i].cgroup+keys[i].instance < keys[j].cgroup+keys[j].instance })
	for _, kk := range keys {
		a := all[kk]
		wl := workloadOf(a.labels, own)
		if !leaf[wl.Cgroup] || !f.matches(wl) {
			continue
		}
		inst := a.labels["instance"]
		ni := nodes[inst]
		if ni != nil {
			wl.Node = ni.name
		} else {
			wl.Node = inst
		}
		var rk string
		var init func() CostRow
		switch o.By {
		case ByNamespace:
			rk = wl.Namespace
			init = func() CostRow { return CostRow{Workload: Workload{Namespace: wl.Namespace}} }
		case ByNode:
			rk = inst
			init = func() CostRow { return CostRow{Workload: Workload{Node: wl.Node}} }
		default:
			c := wl
			c.Container = ""
			rk = c.key()
			init = func() CostRow {
				c.Node = ""
				return CostRow{Workload: c}
			}
		}
		r := row(rk, init)
		steps := map[int64]bool{}
		for _, m := range []map[int64]float64{a.cpu, a.mem, a.reqCPU, a.reqMem, a.reqGPU} {
			for t := range m {
				steps[t] = true
			}
		}
		if rowSteps[rk] == nil {
			rowSteps[rk] = map[int64]bool{}
		}
		for t := range steps {
			rowSteps[rk][t] = true
			var n *nodeStep
			if ni != nil {
				n = ni.steps[t]
			}
			f := o.Prices.factor(n)
			cpuAlloc := max(a.cpu[t], a.reqCPU[t])
			memAlloc := max(a.mem[t], a.reqMem[t]) / (1 << 30)
			gpuAlloc := a.reqGPU[t]
			r.CPUCoreHours += cpuAlloc * hours
			r.MemoryGiBHours += memAlloc * hours
			r.GPUHours += gpuAlloc * hours
			c := cpuAlloc * hours * o.Prices.CPUCoreHour * f
			m := memAlloc * hours * o.Prices.MemoryGiBHour * f
			g := gpuAlloc * hours * o.Prices.GPUHour * f
			r.CPUCost += c
			r.MemoryCost += m
			r.GPUCost += g
			if util, ok := a.util[t]; ok && gpuAlloc > 0 {
				idle := max(0, gpuAlloc-util) * hours * o.Prices.GPUHour * f
				if r.GPUIdleCost == nil {
					r.GPUIdleCost = new(float64)
				}
				*r.GPUIdleCost += idle
			}
			if nodeAlloc[inst] == nil {
				nodeAlloc[inst] = map[int64]float64{}
			}
			nodeAlloc[inst][t] += c + m + g
		}
		if wl.Pod == "" {
			continue
		}
		if rowPods[rk] == nil {
			rowPods[rk] = map[string]bool{}
		}
		rowPods[rk][wl.Pod] = true
		r.Pods = len(rowPods[rk])
		// A workload row names its most recent pod and container.
		for t := range a.cpu {
			if t > rowLatest[rk] && o.By == ByWorkload && wl.Container != "" {
				rowLatest[rk] = t
				r.Pod, r.Cgroup = wl.Pod, wl.Cgroup
			}
		}
	}
	if o.By == ByNode {
		for inst, ni := range nodes {
			r := row(inst, func() CostRow { return CostRow{Workload: Workload{Node: ni.name}} })
			var nodeCost, alloc float64
			rowSteps[inst] = map[int64]bool{}
			for t, n := range ni.steps {
				rowSteps[inst][t] = true
				nodeCost += o.Prices.hourly(n) * hours
				alloc += nodeAlloc[inst][t]
				r.NodeType = n.typ
			}
			idle := max(0, nodeCost-alloc)
			r.AllocatedCost, r.IdleCost = &alloc, &idle
			r.Cost = nodeCost
		}
	}
	out := make([]CostRow, 0, len(order))
	for _, rk := range order {
		r := rows[rk]
		r.By, r.Hours = string(o.By), float64(len(rowSteps[rk]))*hours
		if r.AllocatedCost == nil {
			r.Cost = r.CPUCost + r.MemoryCost + r.GPUCost
			if o.By == ByNode { // a node without capacity series: its allocations only
				alloc := r.Cost
				r.AllocatedCost = &alloc
			}
		}
		if r.Hours > 0 {
			r.CostPerMonth = r.Cost / r.Hours * hoursPerMonth
		}
		if o.By != ByWorkload {
			r.Pods = 0
		}
		out = append(out, *r)
	}
	sort.SliceStable(out, func(i, j int) bool { return out[i].Cost > out[j].Cost })
	return out, nil
}

// nodeSteps reads every node's capacity and type at each step, by the
// instance (scrape target) whose series carry them.
func nodeSteps(ctx context.Context, src Source, w Window) (map[string]*nodeInfo, error) {
	capacity, err := src.Range(ctx, fmt.Sprintf("max by (instance, node, resource) (last_over_time(orb8_node_capacity[%s]))", promDuration(w.Step)), w)
	if err != nil {
		return nil, err
	}
	types, err := src.Range(ctx, fmt.Sprintf("max by (instance, node, value) (last_over_time(orb8_node_label{key=%q}[%s]))", instanceTypeLabel, promDuration(w.Step)), w)
	if err != nil {
		return nil, err
	}
	out := map[string]*nodeInfo{}
	step := func(l map[string]string, t int64) *nodeStep {
		n := out[l["instance"]]
		if n == nil {
			n = &nodeInfo{name: l["node"], steps: map[int64]*nodeStep{}}
			out[l["instance"]] = n
		}
		s := n.steps[t]
		if s == nil {
			s = &nodeStep{}
			n.steps[t] = s
		}
		return s
	}
	for _, s := range capacity {
		for _, p := range s.Points {
			n := step(s.Labels, p.T.Unix())
			switch r := s.Labels["resource"]; {
			case r == "cpu":
				n.cpu = p.V
			case r == "memory":
				n.mem = p.V
			case strings.HasSuffix(r, "/gpu"):
				n.gpu += p.V
			}
		}
	}
	for _, s := range types {
		if n := out[s.Labels["instance"]]; n != nil {
			for _, p := range s.Points {
				if st := n.steps[p.T.Unix()]; st != nil {
					st.typ = s.Labels["value"]
				}
			}
		}
	}
	return out, nil
}
