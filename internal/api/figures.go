package api

import (
	"maps"
	"math"
	"slices"
	"sort"
	"strconv"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/histogram"
)

// figure folds one per-workload metric family into WorkloadFigures. Figures
// come from the contract's metric names, so a probe that exports them lights
// up its columns with no API change.
type figure func(f *pb.WorkloadFigures, m *dto.Metric)

// add returns a figure that sums the series (over extra labels) into a field.
func add(field func(*pb.WorkloadFigures) **float64) figure {
	return func(f *pb.WorkloadFigures, m *dto.Metric) { sum(field(f), sampleValue(m)) }
}

// addIf is add for the series whose label has (or, with not, lacks) a value.
func addIf(field func(*pb.WorkloadFigures) **float64, label, value string, not bool) figure {
	return func(f *pb.WorkloadFigures, m *dto.Metric) {
		if (labelValue(m, label) == value) != not {
			sum(field(f), sampleValue(m))
		}
	}
}

var figures = map[string]figure{
	"orb8_process_exec_total":                        add(func(f *pb.WorkloadFigures) **float64 { return &f.ExecTotal }),
	"orb8_process_exit_total":                        add(func(f *pb.WorkloadFigures) **float64 { return &f.ExitTotal }),
	"orb8_process_running":                           add(func(f *pb.WorkloadFigures) **float64 { return &f.ProcessesRunning }),
	"orb8_network_bytes_total":                       networkBytes,
	"orb8_tcp_active_connections":                    add(func(f *pb.WorkloadFigures) **float64 { return &f.TcpActiveConnections }),
	"orb8_tcp_retransmits_total":                     add(func(f *pb.WorkloadFigures) **float64 { return &f.TcpRetransmitsTotal }),
	"orb8_dns_queries_total":                         add(func(f *pb.WorkloadFigures) **float64 { return &f.DnsQueriesTotal }),
	"orb8_dns_responses_total":                       addIf(func(f *pb.WorkloadFigures) **float64 { return &f.DnsErrorsTotal }, "rcode", "NOERROR", true),
	"orb8_sched_runqueue_latency_seconds":            runqueueP99,
	"orb8_sched_runqueue_wait_seconds_total":         add(func(f *pb.WorkloadFigures) **float64 { return &f.RunqueueWaitSecondsTotal }),
	"orb8_sched_timeslices_total":                    add(func(f *pb.WorkloadFigures) **float64 { return &f.TimeslicesTotal }),
	"orb8_memory_usage_bytes":                        add(func(f *pb.WorkloadFigures) **float64 { return &f.MemoryUsageBytes }),
	"orb8_memory_limit_bytes":                        add(func(f *pb.WorkloadFigures) **float64 { return &f.MemoryLimitBytes }),
	"orb8_oom_kills_total":                           add(func(f *pb.WorkloadFigures) **float64 { return &f.OomKillsTotal }),
	"orb8_open_fds":                                  add(func(f *pb.WorkloadFigures) **float64 { return &f.OpenFds }),
	"orb8_fd_limit":                                  add(func(f *pb.WorkloadFigures) **float64 { return &f.FdLimit }),
	"orb8_syscall_errors_total":                      add(func(f *pb.WorkloadFigures) **float64 { return &f.SyscallErrorsTotal }),
	"orb8_workload_accelerator_memory_used_bytes":    add(func(f *pb.WorkloadFigures) **float64 { return &f.AcceleratorMemoryUsedBytes }),
	"orb8_workload_accelerator_utilization_ratio":    add(func(f *pb.WorkloadFigures) **float64 { return &f.AcceleratorUtilizationRatio }),
	"orb8_accelerator_kernel_launches_total":         add(func(f *pb.WorkloadFigures) **float64 { return &f.AcceleratorKernelLaunchesTotal }),
	"orb8_accelerator_kernel_launches_by_name_total": kernelLaunches,
	"orb8_http_requests_total":                       httpRequests,
	"orb8_http_request_duration_seconds":             httpDuration,
}

// FigureMetrics are the metric names WorkloadFigures are folded from, sorted;
// test/contract checks that the agent exports and documents each.
func FigureMetrics() []string { return slices.Sorted(maps.Keys(figures)) }

func networkBytes(f *pb.WorkloadFigures, m *dto.Metric) {
	switch labelValue(m, "direction") {
	case "tx":
		sum(&f.NetworkTxBytesTotal, sampleValue(m))
	case "rx":
		sum(&f.NetworkRxBytesTotal, sampleValue(m))
	}
}

// httpFigures are the figures of the direction of an orb8_http_* series.
func httpFigures(f *pb.WorkloadFigures, m *dto.Metric) *pb.HTTPFigures {
	dst := &f.HttpClient
	if labelValue(m, "direction") == "server" {
		dst = &f.HttpServer
	}
	if *dst == nil {
		*dst = &pb.HTTPFigures{}
	}
	return *dst
}

// httpRequests sums requests and those answered 500 or more (the http
// probe's failing requests).
func httpRequests(f *pb.WorkloadFigures, m *dto.Metric) {
	h, n := httpFigures(f, m), sampleValue(m)
	h.RequestsTotal += n
	if code, _ := strconv.Atoi(labelValue(m, "status_code")); code >= 500 {
		h.ErrorsTotal += n
	}
}

// httpDuration copies the duration histogram's buckets, ending with a
// +Inf one (which the registry leaves out); a second series of the
// direction (none today: one per workload and direction) adds to the first.
func httpDuration(f *pb.WorkloadFigures, m *dto.Metric) {
	h, src := httpFigures(f, m), m.GetHistogram()
	buckets := src.GetBucket()
	if n := len(buckets); n == 0 || !math.IsInf(buckets[n-1].GetUpperBound(), 1) {
		buckets = append(slices.Clip(buckets), &dto.Bucket{UpperBound: proto.Float64(math.Inf(1)), CumulativeCount: proto.Uint64(src.GetSampleCount())})
	}
	if h.Duration == nil {
		for _, b := range buckets {
			h.Duration = append(h.Duration, &pb.HistogramBucket{UpperBound: b.GetUpperBound()})
		}
	}
	if len(h.Duration) != len(buckets) {
		return // other bounds: not of the same family
	}
	for i, b := range buckets {
		h.Duration[i].CumulativeCount += b.GetCumulativeCount()
	}
}

// runqueueP99 estimates the 99th percentile of a workload's run-queue
// latency since the agent started, interpolating inside the log2 bucket.
func runqueueP99(f *pb.WorkloadFigures, m *dto.Metric) {
	if q, ok := quantile(0.99, m.GetHistogram()); ok {
		f.RunqueueLatencyP99Seconds = &q
	}
}

// quantile is histogram.Quantile on a histogram as the registry gathers it.
func quantile(q float64, h *dto.Histogram) (float64, bool) {
	b := h.GetBucket()
	return histogram.Quantile(q, len(b), func(i int) (float64, float64) {
		return b[i].GetUpperBound(), float64(b[i].GetCumulativeCount())
	}, float64(h.GetSampleCount()))
}

// workloadFigures folds every per-workload series (those with a cgroup label)
// into one WorkloadFigures per cgroup, sorted by cgroup path, with the
// identity identify knows of each path (nil: labels only).
func workloadFigures(families []*dto.MetricFamily, keep *matcher, node string, identify func(string) (cgroup.Workload, bool)) []*pb.WorkloadFigures {
	byPath := map[string]*pb.WorkloadFigures{}
	for _, fam := range families {
		fold := figures[fam.GetName()]
		for _, m := range fam.GetMetric() {
			path := labelValue(m, "cgroup")
			if path == "" {
				continue
			}
			wf, ok := byPath[path]
			if !ok {
				ns, pod := labelValue(m, "namespace"), labelValue(m, "pod")
				if !keep.match(ns, pod, path) {
					continue
				}
				w := cgroup.Workload{Path: path, Namespace: ns, Pod: pod, Container: labelValue(m, "container")}
				if identify != nil {
					if known, ok := identify(path); ok {
						w.ID, w.ContainerID, w.PodUID, w.Runtime, w.Unit = known.ID, known.ContainerID, known.PodUID, known.Runtime, known.Unit
					}
				}
				wf = &pb.WorkloadFigures{Workload: workloadMessage(&w, node)}
				byPath[path] = wf
			}
			if fold != nil {
				fold(wf, m)
			}
		}
	}
	out := make([]*pb.WorkloadFigures, 0, len(byPath))
	for _, wf := range byPath {
		topKernels(wf)
		out = append(out, wf)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Workload.Cgroup < out[j].Workload.Cgroup })
	return out
}

func sum(dst **float64, v float64) {
	if *dst == nil {
		*dst = new(float64)
	}
	**dst += v
}

func sampleValue(m *dto.Metric) float64 {
	switch {
	case m.Counter != nil:
		return m.GetCounter().GetValue()
	case m.Gauge != nil:
		return m.GetGauge().GetValue()
	case m.Untyped != nil:
		return m.GetUntyped().GetValue()
	}
	return 0
}

func labelValue(m *dto.Metric, name string) string {
	for _, l := range m.GetLabel() {
		if l.GetName() == name {
			return l.GetValue()
		}
	}
	return ""
}

// labelSum sums a family's series by one label, e.g. events lost by probe.
// samplingRatios reads, by probe, orb8_accelerator_sampling_ratio (an
// accelerator runtime is a probe of its name) in call order, and
// orb8_sampling_ratio as call "records".
func samplingRatios(families []*dto.MetricFamily) map[string][]*pb.Sampling {
	out := map[string][]*pb.Sampling{}
	for _, fam := range families {
		for _, m := range fam.GetMetric() {
			switch fam.GetName() {
			case "orb8_accelerator_sampling_ratio":
				rt := labelValue(m, "runtime")
				out[rt] = append(out[rt], &pb.Sampling{Call: labelValue(m, "call"), Ratio: sampleValue(m)})
			case "orb8_sampling_ratio":
				p := labelValue(m, "probe")
				out[p] = append(out[p], &pb.Sampling{Call: "records", Ratio: sampleValue(m)})
			}
		}
	}
	return out
}

func labelSum(families []*dto.MetricFamily, name, label string) map[string]float64 {
	out := map[string]float64{}
	for _, fam := range families {
		if fam.GetName() != name {
			continue
		}
		for _, m := range fam.GetMetric() {
			out[labelValue(m, label)] += sampleValue(m)
		}
	}
	return out
}
