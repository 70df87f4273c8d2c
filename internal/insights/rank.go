package insights

import (
	"context"
	"fmt"
	"math"
	"sort"
)

// RankOptions are the parameters of Rank.
type RankOptions struct {
	Filter Filter
	Window Window
	Metric string // one of RankMetrics
	// By is what rows are: pods, containers, workloads or namespaces.
	By        string
	Limit     int
	Ascending bool
}

// RankRow is one pod, container, workload or namespace's figure over the
// window.
type RankRow struct {
	Workload
	Metric string  `json:"metric"`
	Value  float64 `json:"value"`
	Unit   string  `json:"unit"`
}

// rankMetric is a figure per workload over a window: the sum of num over
// the workload's series, divided by the sum of den when there is one (a
// mean).
type rankMetric struct {
	unit string
	// hierarchical: read from cgroup files, where a parent holds its
	// children's; only leaf cgroups are added up.
	hierarchical bool
	num, den     []string // PromQL over a series selector: %s is the filter's matchers, %[2]s the range
}

// RankMetrics are the figures Rank (and orb8 ask) knows.
var RankMetrics = map[string]rankMetric{
	"cpu":                    {unit: "cores", hierarchical: true, num: []string{`rate(orb8_cpu_usage_seconds_total{%s}[%s])`}},
	"cpu_throttling":         {unit: "throttled s/s", hierarchical: true, num: []string{`rate(orb8_cpu_throttled_seconds_total{%s}[%s])`}},
	"memory":                 {unit: "bytes (peak)", hierarchical: true, num: []string{`max_over_time(orb8_memory_usage_bytes{%s}[%s])`}},
	"oom_kills":              {unit: "kills", num: []string{`increase(orb8_oom_kills_total{%s}[%s])`}},
	"crashes":                {unit: "crashes", num: []string{`increase(orb8_process_crashes_total{%s}[%s])`}},
	"execs":                  {unit: "execs", num: []string{`increase(orb8_process_exec_total{%s}[%s])`}},
	"dns_queries":            {unit: "queries", num: []string{`increase(orb8_dns_queries_total{%s}[%s])`}},
	"dns_failures":           {unit: "failed lookups", num: []string{`increase(orb8_dns_responses_total{rcode!="NOERROR",%s}[%s])`, `increase(orb8_dns_unanswered_total{%s}[%s])`}},
	"dns_latency":            {unit: "seconds (mean)", num: []string{`rate(orb8_dns_latency_seconds_sum{%s}[%s])`}, den: []string{`rate(orb8_dns_latency_seconds_count{%s}[%s])`}},
	"network_tx":             {unit: "bytes", num: []string{`increase(orb8_network_bytes_total{direction="tx",%s}[%s])`}},
	"network_rx":             {unit: "bytes", num: []string{`increase(orb8_network_bytes_total{direction="rx",%s}[%s])`}},
	"network_bytes":          {unit: "bytes", num: []string{`increase(orb8_network_bytes_total{%s}[%s])`}},
	"tcp_retransmits":        {unit: "segments", num: []string{`increase(orb8_tcp_retransmits_total{%s}[%s])`}},
	"tcp_failed_connections": {unit: "connections", num: []string{`increase(orb8_tcp_connections_total{result="failed",%s}[%s])`}},
	"http_requests":          {unit: "requests/s", num: []string{`rate(orb8_http_requests_total{direction="server",%s}[%s])`}},
	"http_errors":            {unit: "5xx responses", num: []string{`increase(orb8_http_requests_total{direction="server",status_code=~"5..",%s}[%s])`}},
	"http_latency":           {unit: "seconds (mean)", num: []string{`rate(orb8_http_request_duration_seconds_sum{direction="server",%s}[%s])`}, den: []string{`rate(orb8_http_request_duration_seconds_count{direction="server",%s}[%s])`}},
	"runqueue_latency":       {unit: "seconds (mean wait per timeslice)", num: []string{`rate(orb8_sched_runqueue_wait_seconds_total{%s}[%s])`}, den: []string{`rate(orb8_sched_timeslices_total{%s}[%s])`}},
	"open_fds":               {unit: "fds (peak)", num: []string{`max_over_time(orb8_open_fds{%s}[%s])`}},
	"gpu_utilization":        {unit: "GPUs busy", num: []string{`avg_over_time(orb8_workload_accelerator_utilization_ratio{%s}[%s])`}},
	"gpu_memory":             {unit: "bytes (peak)", num: []string{`max_over_time(orb8_workload_accelerator_memory_used_bytes{%s}[%s])`}},
}

// The rows Rank can make.
const (
	RankPods       = "pods"
	RankContainers = "containers"
	RankWorkloads  = "workloads"
	RankNamespaces = "namespaces"
)

// Rank is a figure of every pod, container, workload or namespace over the
// window, highest first (lowest with Ascending), at most Limit rows.
func Rank(ctx context.Context, src Source, o RankOptions) ([]RankRow, error) {
	m, ok := RankMetrics[o.Metric]
	if !ok {
		return nil, fmt.Errorf("unknown metric %q", o.Metric)
	}
	w, f := o.Window, o.Filter
	rng := promDuration(w.Length())
	sum := func(exprs []string, by string) ([]Series, error) {
		var out []Series
		for _, e := range exprs {
			s, err := src.Instant(ctx, fmt.Sprintf("sum by (%s) (%s)", withLabels(by), fmt.Sprintf(e, f.matchers(), rng)), w.End)
			if err != nil {
				return nil, err
			}
			out = append(out, s...)
		}
		return out, nil
	}
	own, err := owners(ctx, src, f, w)
	if err != nil {
		return nil, err
	}
	type acc struct {
		w        Workload
		num, den float64
	}
	rows := map[string]*acc{}
	var order []string
	add := func(series []Series, fn func(a *acc, s Series, v float64)) {
		leaf := leaves(series)
		for _, s := range series {
			if len(s.Points) == 0 {
				continue
			}
			wl := workloadOf(s.Labels, own)
			if (m.hierarchical && !leaf[wl.Cgroup]) || !f.matches(wl) {
				continue
			}
			row, k := rankRow(wl, o.By)
			a := rows[k]
			if a == nil {
				a = &acc{w: row}
				rows[k] = a
				order = append(order, k)
			}
			fn(a, s, s.Points[0].V)
		}
	}
	num, err := sum(m.num, "")
	if err != nil {
		return nil, err
	}
	add(num, func(a *acc, _ Series, v float64) { a.num += v })
	if len(m.den) > 0 {
		den, err := sum(m.den, "")
		if err != nil {
			return nil, err
		}
		add(den, func(a *acc, _ Series, v float64) { a.den += v })
	}
	out := make([]RankRow, 0, len(rows))
	for _, k := range order {
		a := rows[k]
		v := a.num
		if len(m.den) > 0 {
			v = math.NaN()
			if a.den > 0 {
				v = a.num / a.den
			}
		}
		if math.IsNaN(v) {
			continue
		}
		out = append(out, RankRow{Workload: a.w, Metric: o.Metric, Value: v, Unit: m.unit})
	}
	sort.SliceStable(out, func(i, j int) bool {
		if o.Ascending {
			return out[i].Value < out[j].Value
		}
		return out[i].Value > out[j].Value
	})
	if o.Limit > 0 && len(out) > o.Limit {
		out = out[:o.Limit]
	}
	return out, nil
}

// rankRow is the row a series adds to, and its key.
func rankRow(w Workload, by string) (Workload, string) {
	switch by {
	case RankNamespaces:
		return Workload{Namespace: w.Namespace}, w.Namespace
	case RankPods:
		if w.Pod == "" {
			return Workload{Cgroup: w.Cgroup}, "\x00" + w.Cgroup
		}
		return Workload{Namespace: w.Namespace, Pod: w.Pod}, w.Namespace + "/" + w.Pod
	case RankContainers:
		return Workload{Namespace: w.Namespace, Pod: w.Pod, Container: w.Container, Cgroup: w.Cgroup}, w.Cgroup
	}
	w.Container, w.Node = "", ""
	k := w.key()
	if w.OwnerName != "" {
		w.Pod, w.Cgroup = "", ""
	}
	return w, k
}

// RankMetricNames lists the metrics Rank knows, sorted.
func RankMetricNames() []string {
	names := make([]string, 0, len(RankMetrics))
	for n := range RankMetrics {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}
