package export

import (
	"testing"

	"go.opentelemetry.io/otel/attribute"
)

// An owner-level point names its controller with OpenTelemetry's
// attribute for the kind; an unknown kind keeps the labels as they are.
func TestOwnerLabelsBecomeWorkloadAttributes(t *testing.T) {
	for _, tc := range []struct {
		in   []attribute.KeyValue
		want map[attribute.Key]string
	}{
		{[]attribute.KeyValue{attribute.String("namespace", "shop"), attribute.String("owner_kind", "Deployment"), attribute.String("owner_name", "web")},
			map[attribute.Key]string{"k8s.namespace.name": "shop", "k8s.deployment.name": "web"}},
		{[]attribute.KeyValue{attribute.String("namespace", "batch"), attribute.String("owner_kind", "CronJob"), attribute.String("owner_name", "nightly")},
			map[attribute.Key]string{"k8s.namespace.name": "batch", "k8s.cronjob.name": "nightly"}},
		{[]attribute.KeyValue{attribute.String("namespace", ""), attribute.String("owner_kind", ""), attribute.String("owner_name", "")},
			map[attribute.Key]string{}},
		{[]attribute.KeyValue{attribute.String("namespace", "x"), attribute.String("owner_kind", "Rollout"), attribute.String("owner_name", "r")},
			map[attribute.Key]string{"k8s.namespace.name": "x", "owner_kind": "Rollout", "owner_name": "r"}},
	} {
		got := map[attribute.Key]string{}
		set := renameK8s(attribute.NewSet(tc.in...))
		for it := set.Iter(); it.Next(); {
			got[it.Attribute().Key] = it.Attribute().Value.AsString()
		}
		if len(got) != len(tc.want) {
			t.Errorf("%v: got %v, want %v", tc.in, got, tc.want)
			continue
		}
		for k, v := range tc.want {
			if got[k] != v {
				t.Errorf("%v: got %v, want %v", tc.in, got, tc.want)
			}
		}
	}
}
