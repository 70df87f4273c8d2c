//go:build e2e

package e2e

import (
	"fmt"
	"io/fs"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/testutil"
)

// hostAgent runs `orb8 agent` on the node itself with the cluster's
// kubeconfig and args, and returns its /metrics URL and a client of its
// API once it is ready.
func (c *cluster) hostAgent(args ...string) (string, *apiclient.Agent) {
	c.t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		c.t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	apiAddr := "unix://" + filepath.Join(c.t.TempDir(), "api.sock")
	cmd := exec.Command(testutil.Binary(c.t), append([]string{"agent", "--kubeconfig", os.Getenv("KUBECONFIG"),
		"--node-name", c.agent.Spec.NodeName, "--metrics-addr", addr, "--api-addr", apiAddr}, args...)...)
	var stderr testutil.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	c.eventually(time.Minute, "the host agent ready", func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	api, err := apiclient.Dial(c.t.Context(), apiAddr, apiclient.TLS{}, 10*time.Second)
	if err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() { api.Close() })
	return "http://" + addr + "/metrics", api
}

// scrapeURL fetches a /metrics URL.
func scrapeURL(t *testing.T, url string) prometheus.Gatherer {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	return testutil.Text(t, resp.Body)
}

// seriesIn lists the series of name in namespace ns.
func seriesIn(t *testing.T, g prometheus.Gatherer, name, ns string) []*dto.Metric {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []*dto.Metric
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "namespace" && l.GetValue() == ns {
					out = append(out, m)
				}
			}
		}
	}
	return out
}

// podCgroupExists reports whether a cgroup directory of the pod is still
// there (cgroupfs driver: pod<uid>; systemd: ...-pod<uid_with_underscores>.slice).
func podCgroupExists(t *testing.T, uid string) bool {
	t.Helper()
	root, err := cgroup.FindMount()
	if err != nil {
		t.Fatal(err)
	}
	marks := []string{"pod" + uid, "pod" + strings.ReplaceAll(uid, "-", "_")}
	found := false
	filepath.WalkDir(root, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.IsDir() && (strings.Contains(d.Name(), marks[0]) || strings.Contains(d.Name(), marks[1])) {
			found = true
			return filepath.SkipAll
		}
		return nil
	})
	return found
}

// TestClusterOwnerAggregation: an agent with --aggregation owner exports
// one orb8_process_exec_total series for a Deployment of two replicas,
// labelled with the Deployment, holding exactly the sum of the execs it
// counted in both pods' cgroups (each container's scripted execs counted
// exactly, by it and by the DaemonSet agent); the count stays once one
// replica is deleted and forgotten.
func TestClusterOwnerAggregation(t *testing.T) {
	c := newCluster(t)
	ns := c.namespace()
	const grace = 5 * time.Second
	owner, ownerAPI := c.hostAgent("--aggregation", "owner", "--probes", "cgroup,process", "--gone-grace", grace.String())

	const execs = 5 // the script's: four trues, then sleep
	zero, two := int64(0), int32(2)
	labels := map[string]string{"app": "shaped"}
	script := fmt.Sprintf("/bin/busybox mkfifo %s && read go < %s\n"+
		"/bin/busybox true; /bin/busybox true; /bin/busybox true; /bin/busybox true; exec /bin/busybox sleep 3600", gate, gate)
	d := &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "shaped", Namespace: ns},
		Spec: appsv1.DeploymentSpec{
			Replicas: &two,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					TerminationGracePeriodSeconds: &zero,
					Containers: []corev1.Container{{
						Name: "app", Image: busyboxImage, ImagePullPolicy: corev1.PullNever,
						Command: []string{"/bin/busybox", "sh", "-c", script},
					}},
				},
			},
		},
	}
	if _, err := c.client.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var pods []corev1.Pod
	c.eventually(2*time.Minute, "two running replicas", func() bool {
		list, err := c.client.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{LabelSelector: "app=shaped"})
		if err != nil {
			return false
		}
		pods = pods[:0]
		for _, p := range list.Items {
			if p.Status.Phase == corev1.PodRunning {
				pods = append(pods, p)
			}
		}
		return len(pods) == 2
	})
	// The owner agent's own counts before shaping (its API), per cgroup
	// of the namespace or of one pod. The execs runc makes in a cgroup
	// while it moves into it are not the test's to know, and two agents
	// can differ by such execs: each agent's program reads the task's
	// cgroup as it runs (an agent loaded after the DaemonSet's counted 2 in
	// a sandbox's cgroup where that one counted 1).
	ownCgroups := func(pod string) (sum float64, apps int, perCgroup []string) {
		list, err := ownerAPI.Workloads(t.Context(), &pb.ListWorkloadsRequest{Filter: &pb.WorkloadFilter{Namespace: ns, Pod: pod}})
		if err != nil {
			t.Logf("owner agent's workloads: %v", err)
			return -1, 0, nil
		}
		for _, f := range list {
			w := f.GetWorkload()
			sum += f.GetExecTotal()
			if w.GetContainer() == "app" {
				apps++
			}
			perCgroup = append(perCgroup, fmt.Sprintf("%s/%s (%s) %v", w.GetPod(), w.GetContainer(), w.GetCgroup(), f.GetExecTotal()))
		}
		return sum, apps, perCgroup
	}
	// Each container runs its execs once released: both agents count them
	// exactly.
	for i := range pods {
		container := map[string]string{"namespace": ns, "pod": pods[i].Name, "container": "app"}
		before, open := c.atGate(&pods[i], container)
		ownBefore := -1.0
		c.eventually(time.Minute, pods[i].Name+" named by the owner agent", func() bool {
			sum, apps, _ := ownCgroups(pods[i].Name)
			ownBefore = sum
			return apps == 1
		})
		open()
		c.eventually(time.Minute, fmt.Sprintf("%v execs of %s, %v of its cgroups on the owner agent", before+execs, pods[i].Name, ownBefore+execs), func() bool {
			v, _ := testutil.Sample(t, c.metrics(), "orb8_process_exec_total", container)
			own, _, _ := ownCgroups(pods[i].Name)
			return v == before+execs && own == ownBefore+execs
		})
	}
	deployment := func() float64 {
		series := seriesIn(t, scrapeURL(t, owner), "orb8_process_exec_total", ns)
		if len(series) != 1 {
			t.Logf("owner level: %d series in %s: %v", len(series), ns, series)
			return -1
		}
		got := map[string]string{}
		for _, l := range series[0].GetLabel() {
			got[l.GetName()] = l.GetValue()
		}
		if len(got) != 3 || got["owner_kind"] != "Deployment" || got["owner_name"] != "shaped" {
			t.Fatalf("owner level series %v: want namespace, owner_kind=Deployment, owner_name=shaped and nothing else", got)
		}
		return series[0].GetCounter().GetValue()
	}
	var last struct{ owner, cgroups float64 }
	c.eventually(time.Minute, "one Deployment series with the execs of both pods' cgroups", func() bool {
		owner := deployment()
		sum, apps, perCgroup := ownCgroups("")
		if owner != last.owner || sum != last.cgroups {
			t.Logf("owner level %v, its cgroups %v: %v", owner, sum, perCgroup)
		}
		last.owner, last.cgroups = owner, sum
		return owner == sum && apps == 2
	})
	want := last.owner

	// One replica goes: the Deployment's series keeps its execs after the
	// agent forgot the pod's cgroups.
	d, err := c.client.AppsV1().Deployments(ns).Get(t.Context(), "shaped", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	one := int32(1)
	d.Spec.Replicas = &one
	if _, err := c.client.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	var gone corev1.Pod
	c.eventually(2*time.Minute, "one replica deleted and its cgroups removed", func() bool {
		for _, p := range pods {
			_, err := c.client.CoreV1().Pods(ns).Get(t.Context(), p.Name, metav1.GetOptions{})
			if err != nil && !podCgroupExists(t, string(p.UID)) {
				gone = p
				return true
			}
		}
		return false
	})
	// Past the grace period the owner agent forgets the pod's cgroups:
	// their series go (by path: the pod's name may go first).
	c.eventually(time.Minute, "the owner agent forgot "+gone.Name+"'s cgroups", func() bool {
		list, err := ownerAPI.Workloads(t.Context(), &pb.ListWorkloadsRequest{})
		if err != nil {
			return false
		}
		uid := string(gone.UID)
		for _, f := range list {
			if path := f.GetWorkload().GetCgroup(); strings.Contains(path, uid) || strings.Contains(path, strings.ReplaceAll(uid, "-", "_")) {
				return false
			}
		}
		return true
	})
	if got := deployment(); got != want {
		t.Errorf("after %s went away the Deployment's series holds %v execs, want %v", gone.Name, got, want)
	}
}
