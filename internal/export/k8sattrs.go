package export

import (
	"context"

	"go.opentelemetry.io/otel/attribute"
	sdkmetric "go.opentelemetry.io/otel/sdk/metric"
	"go.opentelemetry.io/otel/sdk/metric/metricdata"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"

	"github.com/orb8/orb8/internal/series"
)

// k8sKeys maps the contract's workload labels to OpenTelemetry's Kubernetes
// attributes; the cgroup label keeps its name (no convention exists for it).
var k8sKeys = map[attribute.Key]attribute.Key{
	"namespace": semconv.K8SNamespaceNameKey,
	"pod":       semconv.K8SPodNameKey,
	"container": semconv.K8SContainerNameKey,
}

// ownerKeys are OpenTelemetry's attributes of the controllers
// --aggregation owner names (owner_kind, owner_name): a point of Deployment
// "web" carries k8s.deployment.name=web. A bare pod's owner is the pod
// itself (k8s.pod.name).
var ownerKeys = map[string]attribute.Key{
	"Deployment":  semconv.K8SDeploymentNameKey,
	"StatefulSet": semconv.K8SStatefulSetNameKey,
	"DaemonSet":   semconv.K8SDaemonSetNameKey,
	"CronJob":     semconv.K8SCronJobNameKey,
	"Job":         semconv.K8SJobNameKey,
	"ReplicaSet":  semconv.K8SReplicaSetNameKey,
	"Pod":         semconv.K8SPodNameKey,
}

// k8sAttributes renames the workload and owner labels of every data point
// a producer yields. An empty name (a cgroup outside Kubernetes) is left out, as
// OpenTelemetry wants absent rather than empty attributes.
type k8sAttributes struct{ sdkmetric.Producer }

func (p k8sAttributes) Produce(ctx context.Context) ([]metricdata.ScopeMetrics, error) {
	scopes, err := p.Producer.Produce(ctx)
	for _, s := range scopes {
		for _, m := range s.Metrics {
			switch d := m.Data.(type) {
			case metricdata.Gauge[float64]:
				renamePoints(d.DataPoints, func(p *metricdata.DataPoint[float64]) *attribute.Set { return &p.Attributes })
			case metricdata.Sum[float64]:
				renamePoints(d.DataPoints, func(p *metricdata.DataPoint[float64]) *attribute.Set { return &p.Attributes })
			case metricdata.Histogram[float64]:
				renamePoints(d.DataPoints, func(p *metricdata.HistogramDataPoint[float64]) *attribute.Set { return &p.Attributes })
			case metricdata.ExponentialHistogram[float64]:
				renamePoints(d.DataPoints, func(p *metricdata.ExponentialHistogramDataPoint[float64]) *attribute.Set { return &p.Attributes })
			case metricdata.Summary:
				renamePoints(d.DataPoints, func(p *metricdata.SummaryDataPoint) *attribute.Set { return &p.Attributes })
			}
		}
	}
	return scopes, err
}

// renamePoints rewrites the attributes of each point in place (the slice is
// shared with the metric that holds it).
func renamePoints[P any](points []P, attrs func(*P) *attribute.Set) {
	for i := range points {
		set := attrs(&points[i])
		*set = renameK8s(*set)
	}
}

func renameK8s(set attribute.Set) attribute.Set {
	kvs := make([]attribute.KeyValue, 0, set.Len())
	kind, _ := set.Value(series.OwnerKindLabel)
	ownerKey, knownOwner := ownerKeys[kind.AsString()]
	for it := set.Iter(); it.Next(); {
		kv := it.Attribute()
		switch {
		case (kv.Key == series.OwnerKindLabel || kv.Key == series.OwnerNameLabel) && kv.Value.AsString() == "":
			continue
		case !knownOwner:
		case kv.Key == series.OwnerKindLabel:
			continue
		case kv.Key == series.OwnerNameLabel:
			kv.Key = ownerKey
		}
		if k, ok := k8sKeys[kv.Key]; ok {
			if kv.Value.AsString() == "" {
				continue
			}
			kv.Key = k
		}
		kvs = append(kvs, kv)
	}
	return attribute.NewSet(kvs...)
}
