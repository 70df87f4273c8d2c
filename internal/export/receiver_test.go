package export_test

import (
	commonpb "go.opentelemetry.io/proto/otlp/common/v1"
	metricspb "go.opentelemetry.io/proto/otlp/metrics/v1"

	"github.com/orb8/orb8/internal/testutil"
)

// receiver is a real OTLP receiver (testutil.OTLPReceiver) read as the
// metrics tests need.
type receiver struct{ testutil.OTLPReceiver }

// point is one received number data point with its resource.
type point struct {
	resource map[string]string
	attrs    map[string]string
	value    float64
}

// points lists every number data point received for metric name, oldest first.
func (r *receiver) points(name string) []point {
	var out []point
	for _, req := range r.MetricRequests() {
		for _, rm := range req.GetResourceMetrics() {
			res := attrMap(rm.GetResource().GetAttributes())
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					if m.GetName() != name {
						continue
					}
					dps := m.GetSum().GetDataPoints()
					if m.GetGauge() != nil {
						dps = m.GetGauge().GetDataPoints()
					}
					for _, dp := range dps {
						out = append(out, point{resource: res, attrs: attrMap(dp.GetAttributes()), value: dp.GetAsDouble()})
					}
				}
			}
		}
	}
	return out
}

// exponential lists every exponential histogram point received for
// metric name, oldest first.
func (r *receiver) exponential(name string) []*metricspb.ExponentialHistogramDataPoint {
	var out []*metricspb.ExponentialHistogramDataPoint
	for _, req := range r.MetricRequests() {
		for _, rm := range req.GetResourceMetrics() {
			for _, sm := range rm.GetScopeMetrics() {
				for _, m := range sm.GetMetrics() {
					if m.GetName() == name {
						out = append(out, m.GetExponentialHistogram().GetDataPoints()...)
					}
				}
			}
		}
	}
	return out
}

func attrMap(kvs []*commonpb.KeyValue) map[string]string {
	out := map[string]string{}
	for k, v := range testutil.OTLPAttrs(kvs) {
		out[k] = v.GetStringValue()
	}
	return out
}
