package tpu

import (
	"context"
	"net"
	"testing"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	tpupb "github.com/orb8/orb8/api/tpu_info/proto"
)

// fakeLibtpu is a RuntimeMetricService serving fixed metrics, as libtpu
// serves them inside a TPU workload.
type fakeLibtpu struct {
	tpupb.UnimplementedRuntimeMetricServiceServer
	metrics map[string]*tpupb.TPUMetric
	listed  []string // what ListSupportedMetrics answers
}

func (f *fakeLibtpu) ListSupportedMetrics(context.Context, *tpupb.ListSupportedMetricsRequest) (*tpupb.ListSupportedMetricsResponse, error) {
	resp := &tpupb.ListSupportedMetricsResponse{}
	for _, n := range f.listed {
		resp.SupportedMetric = append(resp.SupportedMetric, &tpupb.SupportedMetric{MetricName: n})
	}
	return resp, nil
}

func (f *fakeLibtpu) GetRuntimeMetric(_ context.Context, req *tpupb.MetricRequest) (*tpupb.MetricResponse, error) {
	m, ok := f.metrics[req.GetMetricName()]
	if !ok {
		return nil, status.Errorf(codes.NotFound, "no metric %q", req.GetMetricName())
	}
	return &tpupb.MetricResponse{Metric: m}, nil
}

// serve serves f on l until the test ends.
func serve(t testing.TB, f tpupb.RuntimeMetricServiceServer, l net.Listener) *grpc.Server {
	srv := grpc.NewServer()
	tpupb.RegisterRuntimeMetricServiceServer(srv, f)
	go srv.Serve(l)
	if t != nil {
		t.Cleanup(srv.Stop)
	}
	return srv
}

func deviceAttr(id int64) *tpupb.Attribute {
	return &tpupb.Attribute{Key: "device-id", Value: &tpupb.AttrValue{Attr: &tpupb.AttrValue_IntAttr{IntAttr: id}}}
}

// ordinalAttr is the attribute of libtpu's per-core metrics: a list with
// the device ordinal (a string in newer libtpu) and the core type.
func ordinalAttr(ordinal, core string) *tpupb.Attribute {
	str := func(s string) *tpupb.AttrValue {
		return &tpupb.AttrValue{Attr: &tpupb.AttrValue_StringAttr{StringAttr: s}}
	}
	return &tpupb.Attribute{Value: &tpupb.AttrValue{Attr: &tpupb.AttrValue_KvlistAttr{KvlistAttr: &tpupb.KeyValueList{Attributes: []*tpupb.Attribute{
		{Key: "core_type", Value: str(core)},
		{Key: "device_ordinal", Value: str(ordinal)},
	}}}}}
}

func intPoint(a *tpupb.Attribute, v int64) *tpupb.Metric {
	return &tpupb.Metric{Attribute: a, Measure: &tpupb.Metric_Gauge{Gauge: &tpupb.Gauge{Value: &tpupb.Gauge_AsInt{AsInt: v}}}}
}

func doublePoint(a *tpupb.Attribute, v float64) *tpupb.Metric {
	return &tpupb.Metric{Attribute: a, Measure: &tpupb.Metric_Gauge{Gauge: &tpupb.Gauge{Value: &tpupb.Gauge_AsDouble{AsDouble: v}}}}
}

func boolPoint(a *tpupb.Attribute, v bool) *tpupb.Metric {
	return &tpupb.Metric{Attribute: a, Measure: &tpupb.Metric_Gauge{Gauge: &tpupb.Gauge{Value: &tpupb.Gauge_AsBool{AsBool: v}}}}
}

func tpuMetric(name string, points ...*tpupb.Metric) *tpupb.TPUMetric {
	return &tpupb.TPUMetric{Name: name, Metrics: points}
}

const gib = 1 << 30

// v5eHost is what libtpu serves for a workload on two v5e chips, with the
// series the probe must make of it.
func v5eHost() (*fakeLibtpu, map[string]map[string]float64) {
	dist := &tpupb.Metric{Attribute: deviceAttr(0), Measure: &tpupb.Metric_Distribution{Distribution: &tpupb.Distribution{Count: 3}}}
	f := &fakeLibtpu{
		metrics: map[string]*tpupb.TPUMetric{
			"tpu.runtime.hbm.memory.usage.bytes":       tpuMetric("usage", intPoint(deviceAttr(0), 1*gib), intPoint(deviceAttr(1), 2*gib)),
			"tpu.runtime.hbm.memory.total.bytes":       tpuMetric("total", intPoint(deviceAttr(0), 16*gib), intPoint(deviceAttr(1), 16*gib)),
			"tpu.runtime.tensorcore.dutycycle.percent": tpuMetric("duty", doublePoint(deviceAttr(0), 37.5), doublePoint(deviceAttr(1), 75)),
			"tpu.runtime.hbm.utilization.percent":      tpuMetric("hbm bw", doublePoint(deviceAttr(0), 10), doublePoint(deviceAttr(1), 20)),
			"hlo.queue.size.gauge": tpuMetric("queue",
				intPoint(ordinalAttr("0", "TensorCore"), 3), intPoint(ordinalAttr("0", "SparseCore"), 4), intPoint(ordinalAttr("1", "TensorCore"), 1)),
			"tpu.runtime.custom.ready":                       tpuMetric("custom", boolPoint(deviceAttr(0), true), boolPoint(deviceAttr(1), false)),
			"hlo.execution.timing.distribution.microseconds": tpuMetric("timing", dist),
		},
		listed: []string{
			"tpu.runtime.hbm.memory.usage.bytes", "tpu.runtime.hbm.memory.total.bytes",
			"tpu.runtime.tensorcore.dutycycle.percent", "tpu.runtime.hbm.utilization.percent",
			"hlo.queue.size.gauge", "tpu.runtime.custom.ready",
			"hlo.execution.timing.distribution.microseconds",                       // no gauge: nothing exported
			"megascale.dcn_transfer_latencies.microsecond.cumulative.distribution", // not polled
			"tpu.runtime.tensorcore.idle_duration.seconds",                         // listed, no data yet
		},
	}
	want := map[string]map[string]float64{ // family -> device -> value
		"orb8_workload_accelerator_memory_used_bytes":                  {"0": 1 * gib, "1": 2 * gib},
		"orb8_workload_accelerator_memory_total_bytes":                 {"0": 16 * gib, "1": 16 * gib},
		"orb8_workload_accelerator_utilization_ratio":                  {"0": 0.375, "1": 0.75},
		"orb8_workload_accelerator_memory_bandwidth_utilization_ratio": {"0": 0.1, "1": 0.2},
		"orb8_workload_accelerator_queued_programs":                    {"0": 7, "1": 1},
		"orb8_workload_accelerator_runtime_gauge":                      {"0": 1, "1": 0},
		"orb8_workload_accelerator_idle_seconds":                       {},
	}
	return f, want
}
