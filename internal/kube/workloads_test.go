package kube

import (
	"net/netip"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/testutil"
)

// liveList is a fixed list of cgroups, named by the watcher as the
// resolver would name them.
type liveList struct {
	w   *Watcher
	all []cgroup.Workload
}

func (l liveList) Matching(match func(*cgroup.Workload) bool) []uint64 {
	var ids []uint64
	for _, w := range l.all {
		w = l.w.Enrich(w)
		if match(&w) {
			ids = append(ids, w.ID)
		}
	}
	return ids
}

func controlledBy(kind, name string) []metav1.OwnerReference {
	return []metav1.OwnerReference{{APIVersion: "v1", Kind: kind, Name: name, UID: types.UID(uniq("uid")), Controller: new(true)}}
}

// ownedPod creates a pod of one container "app" with the given owner
// references, labels and resources, running as container id cid.
func (f *fixture) ownedPod(ns, name, node, cid, image string, owners []metav1.OwnerReference, labels map[string]string, res corev1.ResourceRequirements) *corev1.Pod {
	f.t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: labels, OwnerReferences: owners},
		Spec:       corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "app", Image: image, Resources: res}}},
	}
	p, err := f.Client.CoreV1().Pods(ns).Create(f.ctx, p, metav1.CreateOptions{})
	if err != nil {
		f.t.Fatal(err)
	}
	return f.SetStatus(p, "", map[string]string{"app": cid}, nil)
}

// TestContainerResourcesAndOwners: each container cgroup of this node's
// pods gets its requests and limits from the pod spec, and its workload's
// owner resolved through ReplicaSets (to Deployments) and Jobs (to
// CronJobs), with the image and the template's revision.
func TestContainerResourcesAndOwners(t *testing.T) {
	f := newFixture(t)
	node := uniq("node")
	ns := f.Namespace(nil)
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web-5d4f8", Namespace: ns, OwnerReferences: controlledBy("Deployment", "web")},
		Spec: appsv1.ReplicaSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "web:2"}}},
			},
		},
	}
	if _, err := f.Client.AppsV1().ReplicaSets(ns).Create(f.ctx, rs, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	job := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "report-29012345", Namespace: ns, OwnerReferences: controlledBy("CronJob", "report")},
		Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
			RestartPolicy: corev1.RestartPolicyNever, Containers: []corev1.Container{{Name: "app", Image: "report:1"}},
		}}},
	}
	if _, err := f.Client.BatchV1().Jobs(ns).Create(f.ctx, job, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	res := corev1.ResourceRequirements{
		Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("250m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
		Limits:   corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("256Mi"), "nvidia.com/gpu": resource.MustParse("1")},
	}
	cids := map[string]string{"web": containerID(), "report": containerID(), "db": containerID(), "bare": containerID()}
	pods := map[string]*corev1.Pod{
		"web":    f.ownedPod(ns, "web-5d4f8-x2x9k", node, cids["web"], "web:2", controlledBy("ReplicaSet", "web-5d4f8"), map[string]string{podTemplateHashLabel: "5d4f8"}, res),
		"report": f.ownedPod(ns, "report-29012345-abcde", node, cids["report"], "report:1", controlledBy("Job", "report-29012345"), nil, corev1.ResourceRequirements{}),
		"db":     f.ownedPod(ns, "db-0", node, cids["db"], "postgres:16", controlledBy("StatefulSet", "db"), map[string]string{controllerRevisionLabel: "db-7c9"}, corev1.ResourceRequirements{}),
		"bare":   f.ownedPod(ns, "debug", node, cids["bare"], "busybox", nil, nil, corev1.ResourceRequirements{}),
	}
	w := f.watcher(node, Filter{})
	live := liveList{w: w}
	for name, p := range pods {
		live.all = append(live.all, workload(p, cids[name]))
	}
	// The pod's own cgroup and a sandbox name no container: no series.
	live.all = append(live.all, workload(pods["web"], ""), workload(pods["web"], containerID()))
	reg := prometheusRegistry(t, NewContainerResources(w.Index, live))

	info := func(pod, kind, name, image, revision string) map[string]string {
		return map[string]string{"namespace": ns, "pod": pod, "container": "app", "owner_kind": kind, "owner_name": name, "image": image, "revision": revision}
	}
	for _, want := range []map[string]string{
		info("web-5d4f8-x2x9k", "Deployment", "web", "web:2", "5d4f8"),
		info("report-29012345-abcde", "CronJob", "report", "report:1", ""),
		info("db-0", "StatefulSet", "db", "postgres:16", "db-7c9"),
		info("debug", "Pod", "debug", "busybox", ""),
	} {
		eventually(t, "orb8_workload_info "+want["pod"], func() bool {
			v, ok := testutil.Sample(t, reg, "orb8_workload_info", want)
			return ok && v == 1
		})
	}
	webLabels := func(resource string) map[string]string {
		return map[string]string{"namespace": ns, "pod": "web-5d4f8-x2x9k", "container": "app", "cgroup": workload(pods["web"], cids["web"]).Path, "resource": resource}
	}
	for _, c := range []struct {
		metric, resource string
		want             float64
	}{
		{"orb8_workload_resource_requests", "cpu", 0.25},
		{"orb8_workload_resource_requests", "memory", 128 << 20},
		{"orb8_workload_resource_limits", "memory", 256 << 20},
		{"orb8_workload_resource_limits", "nvidia.com/gpu", 1},
	} {
		if got, ok := testutil.Sample(t, reg, c.metric, webLabels(c.resource)); !ok || got != c.want {
			t.Errorf("%s{resource=%q} = %v (found %v), want %v", c.metric, c.resource, got, ok, c.want)
		}
	}
	if _, ok := testutil.Sample(t, reg, "orb8_workload_resource_limits", webLabels("cpu")); ok {
		t.Error("a cpu limit the spec does not set was exported")
	}
	if _, ok := testutil.Sample(t, reg, "orb8_workload_resource_requests", map[string]string{"pod": "debug"}); ok {
		t.Error("requests exported for a container that requests nothing")
	}
	if got := testutil.Series(t, reg, "orb8_workload_info"); countSeries(got) != 4 {
		t.Errorf("orb8_workload_info series: %s; want one per container (4), none for the pod's own cgroup or the sandbox", got)
	}

	// A ReplicaSet whose Deployment is unknown yet names itself; once the
	// ReplicaSet is deleted, its pods' owner falls back to it too.
	if err := f.Client.AppsV1().ReplicaSets(ns).Delete(f.ctx, rs.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "owner after the ReplicaSet is gone", func() bool {
		v, ok := testutil.Sample(t, reg, "orb8_workload_info", info("web-5d4f8-x2x9k", "ReplicaSet", "web-5d4f8", "web:2", "5d4f8"))
		return ok && v == 1
	})
}

func countSeries(s string) int {
	n := 0
	for _, c := range s {
		if c == '{' {
			n++
		}
	}
	return n
}

// TestOwnerFollowsControllersAndCountsChanges: Owner names a pod's
// Deployment once its ReplicaSet is known (the ReplicaSet, pending, until
// then), a bare pod itself, and nothing for an unknown pod; Version moves
// with every change that may change an answer, and not with a ReplicaSet's
// status update.
func TestOwnerFollowsControllersAndCountsChanges(t *testing.T) {
	x := NewIndex(Filter{})
	pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "web-5d4f8-x2", Namespace: "shop", UID: "u1", OwnerReferences: controlledBy("ReplicaSet", "web-5d4f8")}}
	bare := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "debug", Namespace: "shop", UID: "u2"}}
	v0 := x.Version()
	x.setPod(pod)
	x.setPod(bare)
	if kind, name, ok := x.Owner("shop", "web-5d4f8-x2"); !ok || kind != "ReplicaSet" || name != "web-5d4f8" {
		t.Errorf("before its ReplicaSet is known: %s %s %v", kind, name, ok)
	}
	if kind, name, state := x.PodOwner("shop", "web-5d4f8-x2"); state != series.OwnerPending || kind != "ReplicaSet" || name != "web-5d4f8" {
		t.Errorf("before its ReplicaSet is known: %s %s %v, want ReplicaSet web-5d4f8 pending", kind, name, state)
	}
	v1 := x.Version()
	x.setController("ReplicaSet", &metav1.ObjectMeta{Name: "web-5d4f8", Namespace: "shop", OwnerReferences: controlledBy("Deployment", "web")}, false)
	if kind, name, ok := x.Owner("shop", "web-5d4f8-x2"); !ok || kind != "Deployment" || name != "web" {
		t.Errorf("through its ReplicaSet: %s %s %v", kind, name, ok)
	}
	if kind, name, ok := x.Owner("shop", "debug"); !ok || kind != "Pod" || name != "debug" {
		t.Errorf("bare pod: %s %s %v", kind, name, ok)
	}
	if _, _, ok := x.Owner("shop", "nope"); ok {
		t.Error("an unknown pod has an owner")
	}
	v2 := x.Version()
	x.setController("ReplicaSet", &metav1.ObjectMeta{Name: "web-5d4f8", Namespace: "shop", OwnerReferences: controlledBy("Deployment", "web"), Generation: 2}, false)
	if x.Version() != v2 {
		t.Error("an update of a ReplicaSet that keeps its controller moved the version")
	}
	x.deletePod(pod, time.Now())
	v3 := x.Version()
	if v0 == 0 || v0 == v1 || v1 == v2 || v2 == v3 {
		t.Errorf("versions %d %d %d %d: want a change at each step, never 0", v0, v1, v2, v3)
	}
}

// TestOwnerOfUnlistedController: a pod's ReplicaSet or Job that the index
// has not listed leaves its owner not final for ownerWait, then names it
// itself; one listed without a controller names it at once.
func TestOwnerOfUnlistedController(t *testing.T) {
	x := NewIndex(Filter{})
	now := time.Unix(1000, 0)
	x.now = func() time.Time { return now }
	x.setPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "batch-x", Namespace: "shop", UID: "u1", OwnerReferences: controlledBy("Job", "batch")}})
	x.setPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "rs-x", Namespace: "shop", UID: "u2", OwnerReferences: controlledBy("ReplicaSet", "rs")}})
	x.setController("ReplicaSet", &metav1.ObjectMeta{Name: "rs", Namespace: "shop"}, false)
	if kind, name, state := x.PodOwner("shop", "rs-x"); state != series.OwnerKnown || kind != "ReplicaSet" || name != "rs" {
		t.Errorf("a ReplicaSet listed without a controller: %s %s %v", kind, name, state)
	}
	now = now.Add(ownerWait - time.Second)
	if _, _, state := x.PodOwner("shop", "batch-x"); state != series.OwnerPending {
		t.Errorf("an unlisted Job before ownerWait: %v, want pending", state)
	}
	// An update of the pod keeps the time it was first learned of.
	x.setPod(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: "batch-x", Namespace: "shop", UID: "u1", OwnerReferences: controlledBy("Job", "batch"), Labels: map[string]string{"a": "b"}}})
	now = now.Add(time.Second)
	if kind, name, state := x.PodOwner("shop", "batch-x"); state != series.OwnerKnown || kind != "Job" || name != "batch" {
		t.Errorf("an unlisted Job after ownerWait: %s %s %v", kind, name, state)
	}
}

// TestPodUpdateKeepsVersionWhileAnswersStay: an update of a pod that
// changes only its status leaves the version (and what is cached by it);
// one that changes its containers or labels moves it.
func TestPodUpdateKeepsVersionWhileAnswersStay(t *testing.T) {
	x := NewIndex(Filter{})
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "shop", UID: "u1", Labels: map[string]string{"app": "web"}},
		Status: corev1.PodStatus{PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://aaa"}}},
	}
	x.setPod(pod)
	v := x.Version()
	ready := pod.DeepCopy()
	ready.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	ready.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.2"}}
	x.setPod(ready)
	if x.Version() != v {
		t.Error("a status update moved the version")
	}
	if kind, ns, name := x.NameIP(netip.MustParseAddr("10.0.0.2")); kind != KindPod || ns != "shop" || name != "web-1" {
		t.Errorf("the pod's new address: %s %s/%s", kind, ns, name)
	}
	for _, change := range []func(p *corev1.Pod){
		func(p *corev1.Pod) { p.Status.ContainerStatuses[0].ContainerID = "containerd://bbb" },
		func(p *corev1.Pod) { p.Labels = map[string]string{"app": "web", "tier": "front"} },
	} {
		next := ready.DeepCopy()
		change(next)
		x.setPod(next)
		if x.Version() == v {
			t.Errorf("an update that changes what the index answers left the version: %+v", next)
		}
		v, ready = x.Version(), next
	}
}
