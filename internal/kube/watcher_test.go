package kube

import (
	"context"
	"log/slog"
	"net/netip"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/kube/kubetest"
	"github.com/orb8/orb8/internal/testutil"
)

// fixture adds a watcher of the shared server to kubetest's.
type fixture struct {
	*kubetest.Fixture
	t   *testing.T
	ctx context.Context
}

func newFixture(t *testing.T) *fixture {
	return &fixture{Fixture: kubetest.NewFixture(t), t: t, ctx: t.Context()}
}

var (
	uniq        = kubetest.Uniq
	containerID = kubetest.ContainerID
)

func (f *fixture) watcher(node string, filter Filter) *Watcher {
	f.t.Helper()
	w, err := New(kubetest.Shared.Config(), Options{NodeName: node, Filter: filter, Grace: time.Minute, SyncTimeout: 30 * time.Second}, slog.New(slog.DiscardHandler))
	if err != nil {
		f.t.Fatal(err)
	}
	w.Start(f.ctx)
	f.t.Cleanup(func() { w.Close() })
	return w
}

// workload is what the resolver makes of a pod's container cgroup.
func workload(p *corev1.Pod, cid string) cgroup.Workload {
	return cgroup.Workload{Path: "/kubepods/besteffort/pod" + string(p.UID) + "/" + cid, PodUID: string(p.UID), ContainerID: cid}
}

func prometheusRegistry(t *testing.T, c prometheus.Collector) *prometheus.Registry {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(c)
	return reg
}

func enriched(w *Watcher, in cgroup.Workload) cgroup.Workload {
	return w.Enrich(in)
}

// eventually waits for the informers to deliver what cond expects.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, cond, "%s", what)
}

func TestEnrichNamesThisNodesPods(t *testing.T) {
	f := newFixture(t)
	node := uniq("node")
	ns := f.Namespace(nil)
	web, sidecar := containerID(), containerID()
	mine := f.Pod(ns, "web-1", node, nil, "", map[string]string{"web": web, "proxy": sidecar})
	other := f.Pod(ns, "elsewhere", uniq("node"), nil, "", map[string]string{"web": containerID()})
	w := f.watcher(node, Filter{})

	got := enriched(w, workload(mine, web))
	if got.Namespace != ns || got.Pod != "web-1" || got.Container != "web" || got.Hidden {
		t.Errorf("web container: got %+v", got)
	}
	if got := enriched(w, workload(mine, sidecar)); got.Container != "proxy" {
		t.Errorf("sidecar container: got %q, want proxy", got.Container)
	}
	// The pod's own cgroup and its sandbox name the pod, no container.
	for _, cid := range []string{"", containerID()} {
		if got := enriched(w, workload(mine, cid)); got.Pod != "web-1" || got.Namespace != ns || got.Container != "" {
			t.Errorf("cgroup of pod with container id %q: got %+v", cid, got)
		}
	}
	// Pods of other nodes are not watched.
	if got := enriched(w, workload(other, other.Status.ContainerStatuses[0].ContainerID[len("containerd://"):])); got.Pod != "" {
		t.Errorf("pod of another node was named: %+v", got)
	}
	// Cgroups outside pods are left alone.
	if got := enriched(w, cgroup.Workload{Path: "/system.slice/sshd.service"}); got.Pod != "" || got.Namespace != "" {
		t.Errorf("system cgroup was named: %+v", got)
	}
	// A pod created after the start is named once the informer sees it.
	late := containerID()
	p := f.Pod(ns, "web-2", node, nil, "", map[string]string{"web": late})
	eventually(t, "web-2 named", func() bool { return enriched(w, workload(p, late)).Pod == "web-2" })
}

// A static pod's cgroups carry the hash of its manifest, not the UID of its
// mirror pod in the API; the mirror pod names them through its annotation.
func TestEnrichNamesStaticPods(t *testing.T) {
	f := newFixture(t)
	node := uniq("node")
	ns := f.Namespace(nil)
	const hash = "3e61c214bc3ed9ff81e21474dd6cba17"
	etcd := containerID()
	mirror := kubetest.PodObject(ns, "etcd-"+node, node, nil, map[string]string{"etcd": etcd})
	mirror.Annotations = map[string]string{corev1.MirrorPodAnnotationKey: hash, "kubernetes.io/config.source": "file"}
	p, err := f.Client.CoreV1().Pods(ns).Create(f.ctx, mirror, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f.SetStatus(p, "", map[string]string{"etcd": etcd}, nil)
	w := f.watcher(node, Filter{})
	static := cgroup.Workload{Path: "/kubepods/burstable/pod" + hash + "/" + etcd, PodUID: hash, ContainerID: etcd}
	eventually(t, "static pod named", func() bool {
		got := enriched(w, static)
		return got.Namespace == ns && got.Pod == "etcd-"+node && got.Container == "etcd"
	})
	if got := enriched(w, workload(p, etcd)); got.Pod != "" {
		t.Errorf("the mirror pod's API UID named a cgroup: %+v", got)
	}
	if err := f.Client.CoreV1().Pods(ns).Delete(f.ctx, p.Name, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "static pod marked deleted", func() bool { return w.PodLabels(ns, p.Name) == nil })
	if got := enriched(w, static); got.Pod != "etcd-"+node {
		t.Errorf("a deleted static pod's cgroup lost its name within the grace period: %+v", got)
	}
}

func TestEnrichContainerRestart(t *testing.T) {
	f := newFixture(t)
	node := uniq("node")
	ns := f.Namespace(nil)
	first := containerID()
	p := f.Pod(ns, "crashy", node, nil, "", map[string]string{"app": first})
	w := f.watcher(node, Filter{})
	second := containerID()
	p = f.SetStatus(p, "", map[string]string{"app": second}, map[string]string{"app": first})
	eventually(t, "restarted container named", func() bool { return enriched(w, workload(p, second)).Container == "app" })
	if got := enriched(w, workload(p, first)); got.Container != "app" {
		t.Errorf("previous container id: got %q, want app", got.Container)
	}
	// A third id: the first is no longer in the status but keeps its name.
	third := containerID()
	f.SetStatus(p, "", map[string]string{"app": third}, map[string]string{"app": second})
	eventually(t, "third container named", func() bool { return enriched(w, workload(p, third)).Container == "app" })
	if got := enriched(w, workload(p, first)); got.Container != "app" {
		t.Errorf("first container id after two restarts: got %q, want app", got.Container)
	}
}

func TestEnrichDeletedPodKeepsNamesForGrace(t *testing.T) {
	f := newFixture(t)
	node := uniq("node")
	ns := f.Namespace(nil)
	cid := containerID()
	p := f.Pod(ns, "gone", node, nil, "10.250.0.7", map[string]string{"app": cid})
	w := f.watcher(node, Filter{})
	if err := f.Client.CoreV1().Pods(ns).Delete(f.ctx, p.Name, metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	ip := netip.MustParseAddr("10.250.0.7")
	eventually(t, "deleted pod's IP released", func() bool { kind, _, _ := w.NameIP(ip); return kind == "" })
	if got := enriched(w, workload(p, cid)); got.Pod != "gone" {
		t.Errorf("deleted pod within its grace period: got %+v", got)
	}
	// A sweep that forgets nothing leaves the version (and what is cached
	// by it) alone; one that forgets the pod moves it.
	v := w.Version()
	w.sweep(time.Now().Add(-time.Hour))
	if w.Version() != v {
		t.Errorf("a sweep that forgot nothing moved the version from %d to %d", v, w.Version())
	}
	w.sweep(time.Now().Add(time.Second))
	if got := enriched(w, workload(p, cid)); got.Pod != "" {
		t.Errorf("deleted pod after its grace period: got %+v", got)
	}
	if w.Version() == v {
		t.Error("a sweep that forgot a pod left the version")
	}
}

func TestFilterHidesPods(t *testing.T) {
	f := newFixture(t)
	node := uniq("node")
	shown, excluded := f.Namespace(map[string]string{"team": "a"}), f.Namespace(map[string]string{"team": "a"})
	cid := map[string]string{}
	pods := map[string]*corev1.Pod{}
	for _, pc := range []struct{ ns, name, app string }{{shown, "web", "web"}, {shown, "db", "db"}, {excluded, "web", "web"}} {
		cid[pc.ns+pc.name] = containerID()
		pods[pc.ns+pc.name] = f.Pod(pc.ns, pc.name, node, map[string]string{"app": pc.app}, "", map[string]string{"c": cid[pc.ns+pc.name]})
	}
	filter, err := NewFilter(nil, []string{excluded}, "app=web", "team=a")
	if err != nil {
		t.Fatal(err)
	}
	w := f.watcher(node, filter)
	hidden := func(key string) bool { return enriched(w, workload(pods[key], cid[key])).Hidden }
	if hidden(shown + "web") {
		t.Error("web in the shown namespace is hidden")
	}
	if !hidden(shown + "db") {
		t.Error("db (app=db) is not hidden by the selector app=web")
	}
	if !hidden(excluded + "web") {
		t.Error("web in the excluded namespace is not hidden")
	}
	// Relabeling the namespace hides its pods.
	ns, err := f.Client.CoreV1().Namespaces().Get(f.ctx, shown, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ns.Labels["team"] = "b"
	if _, err := f.Client.CoreV1().Namespaces().Update(f.ctx, ns, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "web hidden after its namespace left team=a", func() bool { return hidden(shown + "web") })
}

func TestNameIP(t *testing.T) {
	f := newFixture(t)
	node := uniq("node")
	ns := f.Namespace(nil)
	f.Pod(ns, "local", node, nil, "10.250.1.10", map[string]string{"c": containerID()})
	svc, err := f.Client.CoreV1().Services(ns).Create(f.ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "api"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// A pod on another node, known through its Service's EndpointSlice.
	_, err = f.Client.DiscoveryV1().EndpointSlices(ns).Create(f.ctx, &discoveryv1.EndpointSlice{
		ObjectMeta:  metav1.ObjectMeta{Name: "api-x", Labels: map[string]string{discoveryv1.LabelServiceName: "api"}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses: []string{"10.250.2.20"},
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: ns, Name: "remote"},
		}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w := f.watcher(node, Filter{})
	for _, tc := range []struct{ ip, kind, name string }{
		{"10.250.1.10", KindPod, "local"},
		{"::ffff:10.250.1.10", KindPod, "local"},
		{svc.Spec.ClusterIP, KindService, "api"},
		{"10.250.2.20", KindPod, "remote"},
		{"10.250.9.9", "", ""},
	} {
		kind, gotNS, name := w.NameIP(netip.MustParseAddr(tc.ip))
		wantNS := ns
		if tc.kind == "" {
			wantNS = ""
		}
		if kind != tc.kind || name != tc.name || gotNS != wantNS {
			t.Errorf("NameIP(%s) = %q %q %q, want %q %q %q", tc.ip, kind, gotNS, name, tc.kind, wantNS, tc.name)
		}
	}
	if err := f.Client.CoreV1().Services(ns).Delete(f.ctx, "api", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "deleted service's IP released", func() bool {
		kind, _, _ := w.NameIP(netip.MustParseAddr(svc.Spec.ClusterIP))
		return kind == ""
	})
}

func TestNodeResources(t *testing.T) {
	f := newFixture(t)
	node := uniq("node")
	n, err := f.Client.CoreV1().Nodes().Create(f.ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: node, Labels: map[string]string{"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3", "kubernetes.io/os": "linux"},
	}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = f.Client.CoreV1().Nodes().Delete(context.Background(), node, metav1.DeleteOptions{}) })
	n.Status.Capacity = corev1.ResourceList{"cpu": resource.MustParse("16"), "memory": resource.MustParse("64Gi"), "nvidia.com/gpu": resource.MustParse("8")}
	n.Status.Allocatable = corev1.ResourceList{"cpu": resource.MustParse("15500m"), "memory": resource.MustParse("62Gi"), "nvidia.com/gpu": resource.MustParse("8")}
	n.Status.NodeInfo = corev1.NodeSystemInfo{KernelVersion: "6.18.0", OSImage: "Debian GNU/Linux 12", ContainerRuntimeVersion: "containerd://1.6.20", KubeletVersion: "v1.37.2", Architecture: "amd64"}
	if _, err := f.Client.CoreV1().Nodes().UpdateStatus(f.ctx, n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	w := f.watcher(node, Filter{})
	reg := prometheusRegistry(t, w)
	eventually(t, "node status seen", func() bool {
		_, ok := testutil.Sample(t, reg, "orb8_node_capacity", map[string]string{"node": node, "resource": "nvidia.com/gpu"})
		return ok
	})
	for _, tc := range []struct {
		metric, res string
		want        float64
	}{
		{"orb8_node_capacity", "cpu", 16},
		{"orb8_node_capacity", "memory", 64 << 30},
		{"orb8_node_capacity", "nvidia.com/gpu", 8},
		{"orb8_node_allocatable", "cpu", 15.5},
		{"orb8_node_allocatable", "memory", 62 << 30},
	} {
		got, ok := testutil.Sample(t, reg, tc.metric, map[string]string{"node": node, "resource": tc.res})
		if !ok || got != tc.want {
			t.Errorf("%s{resource=%q} = %v (found %v), want %v", tc.metric, tc.res, got, ok, tc.want)
		}
	}
	info := map[string]string{"node": node, "kernel_version": "6.18.0", "kubelet_version": "v1.37.2", "container_runtime": "containerd://1.6.20", "architecture": "amd64", "os_image": "Debian GNU/Linux 12"}
	if got, ok := testutil.Sample(t, reg, "orb8_node_info", info); !ok || got != 1 {
		t.Errorf("orb8_node_info = %v (found %v); series: %s", got, ok, testutil.Series(t, reg, "orb8_node_info"))
	}
	if got, ok := testutil.Sample(t, reg, "orb8_node_label", map[string]string{"node": node, "key": "nvidia.com/gpu.product", "value": "NVIDIA-H100-80GB-HBM3"}); !ok || got != 1 {
		t.Errorf("orb8_node_label for the GPU product = %v (found %v)", got, ok)
	}
	if got, _ := testutil.Sample(t, reg, "orb8_kube_synced", map[string]string{"resource": "pods"}); got != 1 {
		t.Errorf("orb8_kube_synced{resource=pods} = %v, want 1", got)
	}
}

func TestPodLabelsByName(t *testing.T) {
	f := newFixture(t)
	node := uniq("node")
	ns := f.Namespace(nil)
	f.Pod(ns, "web", node, map[string]string{"app": "web", "tier": "front"}, "10.250.0.9", map[string]string{"app": containerID()})
	w := f.watcher(node, Filter{})
	eventually(t, "pod labels", func() bool { return w.PodLabels(ns, "web")["tier"] == "front" })
	if got := w.PodLabels(ns, "nope"); got != nil {
		t.Errorf("labels of an unknown pod: %v", got)
	}
	if err := f.Client.CoreV1().Pods(ns).Delete(f.ctx, "web", metav1.DeleteOptions{GracePeriodSeconds: new(int64)}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "labels of a deleted pod gone", func() bool { return w.PodLabels(ns, "web") == nil })
}

// TestWatcherResumesWhenAPIServerReturns: informers list again as soon as
// a restarted API server serves, not on client-go's backoff, which after an
// outage this long (15 s down, then its start: ~30 s here) retries every
// 13-60 s.
func TestWatcherResumesWhenAPIServerReturns(t *testing.T) {
	f := newFixture(t)
	node := uniq("node")
	ns := f.Namespace(nil)
	first, second := containerID(), containerID()
	before := f.Pod(ns, "before", node, nil, "", map[string]string{"app": first})
	w := f.watcher(node, Filter{})
	eventually(t, "pod 'before' named", func() bool { return enriched(w, workload(before, first)).Pod == "before" })

	reg := prometheusRegistry(t, w)
	refusing := func() float64 {
		if v, ok := testutil.Sample(t, reg, "orb8_kube_api_refusing", nil); ok {
			return v
		}
		return -1
	}
	if v := refusing(); v != 0 {
		t.Fatalf("orb8_kube_api_refusing = %v with the API server up", v)
	}
	kubetest.Shared.StopAPIServer()
	restarted := false
	t.Cleanup(func() {
		if !restarted {
			_ = kubetest.Shared.StartAPIServer()
		}
	})
	eventually(t, "orb8_kube_api_refusing 1 with the API server down", func() bool { return refusing() == 1 })
	time.Sleep(15 * time.Second)
	if err := kubetest.Shared.StartAPIServer(); err != nil {
		t.Fatal(err)
	}
	restarted = true
	back := time.Now()
	after := f.Pod(ns, "after", node, nil, "", map[string]string{"app": second})
	testutil.Eventually(t, 10*time.Second, func() bool { return enriched(w, workload(after, second)).Pod == "after" },
		"pod 'after', created once the API server was back, named")
	t.Logf("named %v after the API server was ready", time.Since(back).Round(time.Millisecond))
	if v := refusing(); v != 0 {
		t.Errorf("orb8_kube_api_refusing = %v once the informers listed again", v)
	}
	if got := enriched(w, workload(before, first)); got.Pod != "before" {
		t.Errorf("pod 'before' after the outage: %+v", got)
	}
}
