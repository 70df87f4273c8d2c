//go:build e2e

package e2e

import (
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orb8/orb8/internal/testutil"
)

const busyboxImage = "docker.io/library/busybox:orb8"

// TestClusterDeploymentResourcesOwnerAndRollout: a Deployment's pod burns
// CPU under a 100m limit. The agent reports the container's requests and
// limits from its spec, its owner (the Deployment, through its ReplicaSet),
// image and revision, CPU time no more than the quota allows and throttled
// time; a rollout shows as the new revision under the same owner.
func TestClusterDeploymentResourcesOwnerAndRollout(t *testing.T) {
	c := newCluster(t)
	ns := c.namespace()
	zero, one := int64(0), int32(1)
	labels := map[string]string{"app": "burner"}
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "burner", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &one,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &zero,
					Containers: []corev1.Container{{
						Name: "burner", Image: busyboxImage, ImagePullPolicy: corev1.PullNever,
						Command: []string{"/bin/busybox", "sh", "-c", "while :; do :; done"},
						Env:     []corev1.EnvVar{{Name: "REV", Value: "1"}},
						Resources: corev1.ResourceRequirements{
							Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("50m"), corev1.ResourceMemory: resource.MustParse("16Mi")},
							Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("64Mi")},
						},
					}},
				},
			},
		},
	}
	d, err := c.client.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	first := c.runningPod(ns, labels, "")
	started := time.Now()
	revision := first.Labels["pod-template-hash"]
	if revision == "" {
		t.Fatalf("pod %s has no pod-template-hash label: %v", first.Name, first.Labels)
	}
	workload := map[string]string{"namespace": ns, "pod": first.Name, "container": "burner"}
	with := func(extra map[string]string) map[string]string {
		out := map[string]string{}
		for k, v := range workload {
			out[k] = v
		}
		for k, v := range extra {
			out[k] = v
		}
		return out
	}
	checks := []struct {
		name  string
		extra map[string]string
		want  float64
	}{
		{"orb8_workload_info", map[string]string{"owner_kind": "Deployment", "owner_name": "burner", "image": busyboxImage, "revision": revision}, 1},
		{"orb8_workload_resource_requests", map[string]string{"resource": "cpu"}, 0.05},
		{"orb8_workload_resource_requests", map[string]string{"resource": "memory"}, 16 << 20},
		{"orb8_workload_resource_limits", map[string]string{"resource": "cpu"}, 0.1},
		{"orb8_workload_resource_limits", map[string]string{"resource": "memory"}, 64 << 20},
	}
	var usage, throttled float64
	c.eventually(time.Minute, "resources, owner, CPU time and throttling of the Deployment's pod", func() bool {
		m := c.metrics()
		for _, ch := range checks {
			if v, ok := testutil.Sample(t, m, ch.name, with(ch.extra)); !ok || v != ch.want {
				return false
			}
		}
		var ok bool
		usage, ok = testutil.Sample(t, m, "orb8_cpu_usage_seconds_total", workload)
		// kubelet sets the quota on the pod's cgroup and the container's:
		// whichever runs out first is throttled, so count the pod's cgroups.
		throttled = sumSamples(t, m, "orb8_cpu_throttled_seconds_total", map[string]string{"namespace": ns, "pod": first.Name})
		return ok && usage > 0.2 && throttled > 0
	})
	// The quota is 10 ms of CPU per 100 ms period: the burner cannot have
	// run more than a tenth of the time since it started, plus a period.
	elapsed := time.Since(started).Seconds() + 5 // its start before the test saw it running
	if usage > 0.1*elapsed+0.01 {
		t.Errorf("CPU time %.3f s in under %.1f s at a 100m limit: more than the quota allows", usage, elapsed)
	}
	t.Logf("burner: %.3f s of CPU, %.3f s throttled, within %.1f s", usage, throttled, elapsed)

	// Roll out a new template: a new ReplicaSet, pod and revision.
	d, err = c.client.AppsV1().Deployments(ns).Get(t.Context(), d.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	d.Spec.Template.Spec.Containers[0].Env[0].Value = strconv.Itoa(2)
	if _, err := c.client.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	second := c.runningPod(ns, labels, revision)
	c.eventually(time.Minute, "the rollout's revision under the same owner", func() bool {
		v, ok := testutil.Sample(t, c.metrics(), "orb8_workload_info", map[string]string{
			"namespace": ns, "pod": second.Name, "container": "burner",
			"owner_kind": "Deployment", "owner_name": "burner", "revision": second.Labels["pod-template-hash"],
		})
		return ok && v == 1
	})
	t.Logf("rollout: revision %s -> %s", revision, second.Labels["pod-template-hash"])
}

// runningPod waits for a running pod matching labels whose template
// revision is not oldRevision.
func (c *cluster) runningPod(ns string, labels map[string]string, oldRevision string) *corev1.Pod {
	c.t.Helper()
	var pod *corev1.Pod
	c.eventually(2*time.Minute, "a running pod of "+labels["app"], func() bool {
		pods, err := c.client.CoreV1().Pods(ns).List(c.t.Context(), metav1.ListOptions{LabelSelector: metav1.FormatLabelSelector(&metav1.LabelSelector{MatchLabels: labels})})
		if err != nil {
			return false
		}
		for i := range pods.Items {
			p := &pods.Items[i]
			if p.Status.Phase == corev1.PodRunning && p.DeletionTimestamp == nil && p.Labels["pod-template-hash"] != oldRevision {
				pod = p
				return true
			}
		}
		return false
	})
	return pod
}

// sumSamples adds up every series of name whose labels include want.
func sumSamples(t *testing.T, g prometheus.Gatherer, name string, want map[string]string) float64 {
	t.Helper()
	fams, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	sum := 0.0
	for _, f := range fams {
		if f.GetName() == name {
			sum += sumMatching(f, want)
		}
	}
	return sum
}

func sumMatching(f *dto.MetricFamily, want map[string]string) float64 {
	sum := 0.0
next:
	for _, m := range f.GetMetric() {
		for _, l := range m.GetLabel() {
			if v, ok := want[l.GetName()]; ok && v != l.GetValue() {
				continue next
			}
		}
		sum += m.GetCounter().GetValue() + m.GetGauge().GetValue()
	}
	return sum
}
