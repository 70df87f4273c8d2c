//go:build e2e

package e2e

// Tests against the project's own cluster with the agent deployed:
//
//	hack/cluster.sh up && hack/cluster.sh deploy
//	KUBECONFIG=/var/lib/orb8-cluster/admin.kubeconfig go test -tags e2e -run Cluster ./test/e2e/
//	hack/cluster.sh down

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
	authv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/testutil"
)

const agentNamespace = "orb8"

type cluster struct {
	t      *testing.T
	cfg    *rest.Config
	client kubernetes.Interface
	agent  *corev1.Pod
}

func newCluster(t *testing.T) *cluster {
	t.Helper()
	path := os.Getenv("KUBECONFIG")
	if path == "" {
		t.Fatal("KUBECONFIG is not set: run hack/cluster.sh up && hack/cluster.sh deploy, then export the KUBECONFIG it prints")
	}
	return clusterAt(t, path)
}

// clusterAt is the cluster of the kubeconfig at path, once its agent is ready.
func clusterAt(t *testing.T, path string) *cluster {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", path)
	if err != nil {
		t.Fatal(err)
	}
	client, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	c := &cluster{t: t, cfg: cfg, client: client}
	c.agent = c.agentPod()
	return c
}

// agents connects to every agent the way `orb8 --all-nodes` does (port
// forwarding, TLS to the agent) with the credentials of cfg.
func (c *cluster) agents(cfg *rest.Config) *apiclient.Cluster {
	c.t.Helper()
	ctx, cancel := context.WithTimeout(c.t.Context(), 30*time.Second)
	defer cancel()
	a, err := apiclient.NewCluster(ctx, cfg, apiclient.ClusterOptions{Namespace: agentNamespace, DaemonSet: "orb8", Timeout: 10 * time.Second})
	if err != nil {
		c.t.Fatalf("reach the agents: %v", err)
	}
	c.t.Cleanup(func() { a.Close() })
	return a
}

// agentPod is the DaemonSet's pod on the node, once ready.
func (c *cluster) agentPod() *corev1.Pod {
	c.t.Helper()
	var pod *corev1.Pod
	c.eventually(2*time.Minute, "agent pod ready", func() bool {
		pods, err := c.client.CoreV1().Pods(agentNamespace).List(c.t.Context(), metav1.ListOptions{LabelSelector: "app.kubernetes.io/name=orb8"})
		if err != nil || len(pods.Items) != 1 {
			return false
		}
		pod = &pods.Items[0]
		return ready(pod)
	})
	return pod
}

func ready(p *corev1.Pod) bool {
	for _, cond := range p.Status.Conditions {
		if cond.Type == corev1.PodReady {
			return cond.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (c *cluster) eventually(timeout time.Duration, what string, cond func() bool) {
	c.t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(500 * time.Millisecond)
	}
}

// metrics scrapes the agent through the API server's pod proxy, the way
// `orb8 --all-nodes` reaches agents.
func (c *cluster) metrics() prometheus.Gatherer {
	c.t.Helper()
	raw, err := c.agentGet("metrics", nil)
	if err != nil {
		c.t.Logf("scrape through the pod proxy: %v", err)
		return prometheus.GathererFunc(func() ([]*dto.MetricFamily, error) { return nil, nil })
	}
	return testutil.Text(c.t, bytes.NewReader(raw))
}

// agentGet reads path (no leading slash) of the agent's metrics listener
// through the API server's pod proxy.
func (c *cluster) agentGet(path string, query map[string]string) ([]byte, error) {
	req := c.client.CoreV1().RESTClient().Get().
		AbsPath("/api/v1/namespaces", agentNamespace, "pods", fmt.Sprintf("%s:%d", c.agent.Name, c.metricsPort()), "proxy", path)
	for k, v := range query {
		req = req.Param(k, v)
	}
	return req.DoRaw(c.t.Context())
}

// metricsPort is the number of the agent's container port named metrics (the
// pod proxy takes numbers only).
func (c *cluster) metricsPort() int32 {
	for _, ctr := range c.agent.Spec.Containers {
		for _, p := range ctr.Ports {
			if p.Name == "metrics" {
				return p.ContainerPort
			}
		}
	}
	c.t.Fatal("the agent container has no port named metrics")
	return 0
}

// metricsDirect scrapes the agent pod on the cluster's bridge, without the API server.
func (c *cluster) metricsDirect(path string) ([]byte, error) {
	resp, err := (&http.Client{Timeout: 5 * time.Second}).Get(fmt.Sprintf("http://%s:%d%s", c.agent.Status.PodIP, c.metricsPort(), path))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	return io.ReadAll(resp.Body)
}

func (c *cluster) namespace() string {
	c.t.Helper()
	ns := fmt.Sprintf("e2e-%d", time.Now().UnixNano()%1e9)
	c.createNamespace(ns)
	return ns
}

// createNamespace makes namespace ns, deleted when the test ends, and
// waits for its default service account: the controller manager makes it
// a moment later, and the API server refuses pods without it.
func (c *cluster) createNamespace(ns string) {
	c.t.Helper()
	if _, err := c.client.CoreV1().Namespaces().Create(c.t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		c.t.Fatal(err)
	}
	c.t.Cleanup(func() {
		_ = c.client.CoreV1().Namespaces().Delete(context.Background(), ns, metav1.DeleteOptions{})
	})
	c.eventually(time.Minute, "the default service account of "+ns, func() bool {
		_, err := c.client.CoreV1().ServiceAccounts(ns).Get(c.t.Context(), "default", metav1.GetOptions{})
		return err == nil
	})
}

// gate is where a gated pod's script waits: a FIFO it reads a line from.
const gate = "/orb8-gate"

// busybox runs script in a pod of the cluster's busybox image. The script
// starts only once the test releases the pod (release): how many execs the
// container's start takes is the runtime's business (runc may re-exec itself
// from a sealed memfd before or after it joins the container's cgroup), so
// the tests count from there.
func (c *cluster) busybox(ns, name, script string, restart corev1.RestartPolicy) *corev1.Pod {
	c.t.Helper()
	zero := int64(0)
	gated := fmt.Sprintf("/bin/busybox mkfifo %s && read go < %s\n%s", gate, gate, script)
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns, Labels: map[string]string{"app": name}},
		Spec: corev1.PodSpec{
			RestartPolicy:                 restart,
			TerminationGracePeriodSeconds: &zero,
			Containers: []corev1.Container{{
				Name: name, Image: "docker.io/library/busybox:orb8", ImagePullPolicy: corev1.PullNever,
				Command: []string{"/bin/busybox", "sh", "-c", gated},
			}},
		},
	}
	p, err := c.client.CoreV1().Pods(ns).Create(c.t.Context(), p, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	c.eventually(time.Minute, name+" running", func() bool {
		p, err = c.client.CoreV1().Pods(ns).Get(c.t.Context(), name, metav1.GetOptions{})
		return err == nil && p.Status.PodIP != "" && (p.Status.Phase == corev1.PodRunning || p.Status.Phase == corev1.PodSucceeded)
	})
	return p
}

// release lets a gated pod's script run and returns the execs the agent had
// counted under labels until then.
func (c *cluster) release(pod *corev1.Pod, labels map[string]string) float64 {
	c.t.Helper()
	before, open := c.atGate(pod, labels)
	open()
	return before
}

// atGate waits until a gated pod's script waits at its gate and the agent
// names the pod, and returns the execs the agent counted under labels until
// then and the function that lets the script run. Opening the gate for
// writing succeeds only once the script waits on it, after every exec before
// the gate; the kernel counts execs as they happen, so the series, once the
// agent names the pod, holds them all.
func (c *cluster) atGate(pod *corev1.Pod, labels map[string]string) (before float64, open func()) {
	c.t.Helper()
	var fifo *os.File
	c.eventually(time.Minute, pod.Name+" waiting at its gate", func() bool {
		for _, root := range c.podRoots(pod) {
			// A FIFO opened for writing without blocking fails until a reader waits.
			if f, err := os.OpenFile(filepath.Join(root, gate), os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				fifo = f
				return true
			}
		}
		return false
	})
	c.t.Cleanup(func() { fifo.Close() })
	c.eventually(time.Minute, pod.Name+" named by the agent", func() bool {
		v, ok := testutil.Sample(c.t, c.metrics(), "orb8_process_exec_total", labels)
		before = v
		return ok
	})
	return before, func() {
		c.t.Helper()
		if _, err := fifo.WriteString("go\n"); err != nil {
			c.t.Fatalf("release %s: %v", pod.Name, err)
		}
		fifo.Close()
	}
}

// podRoots lists the root directories (/proc/<pid>/root) of pod's processes:
// the test runs on the node.
func (c *cluster) podRoots(pod *corev1.Pod) []string {
	var roots []string
	for _, dir := range podProcs(pod) {
		roots = append(roots, filepath.Join(dir, "root"))
	}
	return roots
}

// podProcs lists the /proc/<pid> directories of pod's processes.
func podProcs(pod *corev1.Pod) []string {
	var dirs []string
	procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
	for _, f := range procs {
		if cg, err := os.ReadFile(f); err == nil && bytes.Contains(cg, []byte("/pod"+string(pod.UID)+"/")) {
			dirs = append(dirs, filepath.Dir(f))
		}
	}
	return dirs
}

// The traffic test's pods. busybox's nc half-closes the connection at EOF
// on its stdin and exits as soon as the peer half-closes: a server reading
// /dev/null would end the transfer after its first read (4 KiB, or none).
// So the server's stdin is a pipe that never ends, it exits at the client's
// EOF, and wc writes what it received to its log. Names with a slash are
// never run as shell builtins, so each is exactly one exec.
const (
	payloadBytes = 100 * 1000
	serverPort   = 8080
	servicePort  = 80 // the Service in front of the server: kube-proxy translates it to serverPort
	// sleep, nc and wc.
	serverExecs  = 3
	serverScript = "/bin/busybox sleep 3600 | /bin/busybox nc -l -p 8080 | /bin/busybox wc -c"
	// Five /bin/busybox true, dd and nc, and the final sleep.
	clientExecs = 8
)

func clientScript(server string, port int) string {
	return fmt.Sprintf(`i=0; while [ $i -lt 5 ]; do /bin/busybox true; i=$((i+1)); done
/bin/busybox dd if=/dev/zero bs=1000 count=100 2>/dev/null | /bin/busybox nc -w 2 %s %d
exec /bin/busybox sleep 3600`, server, port)
}

func TestClusterDaemonSetIsUnprivilegedWithReadOnlyRBAC(t *testing.T) {
	c := newCluster(t)
	for _, ctr := range c.agent.Spec.Containers {
		sc := ctr.SecurityContext
		if sc == nil || sc.Privileged == nil || *sc.Privileged {
			t.Errorf("container %s: privileged is not explicitly false: %+v", ctr.Name, sc)
		}
		if sc != nil && sc.Capabilities != nil && slices.Contains(sc.Capabilities.Add, "SYS_ADMIN") {
			t.Errorf("container %s adds SYS_ADMIN", ctr.Name)
		}
	}
	role, err := c.client.RbacV1().ClusterRoles().Get(t.Context(), "orb8", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	// Reads only; the reviews of API callers change nothing; policies get
	// their status written, and Events on the pods they act on.
	writes := map[string]bool{"create tokenreviews": true, "create subjectaccessreviews": true,
		"update clustersecuritypolicies/status": true, "update securitypolicies/status": true,
		"create events": true, "patch events": true}
	for _, r := range role.Rules {
		for _, v := range r.Verbs {
			for _, res := range r.Resources {
				if v != "get" && v != "list" && v != "watch" && !writes[v+" "+res] {
					t.Errorf("ClusterRole orb8 grants %q on %s", v, res)
				}
			}
		}
	}
	// What the API server itself decides for the agent's service account.
	sa := "system:serviceaccount:" + agentNamespace + ":" + c.agent.Spec.ServiceAccountName
	for _, tc := range []struct {
		verb, group, resource string
		allowed               bool
	}{
		{"list", "", "pods", true}, {"watch", "discovery.k8s.io", "endpointslices", true}, {"get", "", "nodes", true},
		{"watch", "apps", "replicasets", true}, {"list", "batch", "jobs", true},
		{"create", "", "pods", false}, {"delete", "", "pods", false}, {"update", "", "nodes", false}, {"get", "", "secrets", false},
		{"update", "apps", "deployments", false}, {"get", "apps", "deployments", false}, {"delete", "batch", "jobs", false},
		{"create", "authentication.k8s.io", "tokenreviews", true}, {"create", "authorization.k8s.io", "subjectaccessreviews", true},
		{"watch", "orb8.dev", "securitypolicies", true}, {"update", "orb8.dev", "securitypolicies/status", true},
		{"update", "orb8.dev", "clustersecuritypolicies", false}, {"delete", "orb8.dev", "securitypolicies", false},
		{"create", "", "events", true}, {"delete", "", "events", false}, {"update", "", "pods/status", false},
	} {
		resource, sub, _ := strings.Cut(tc.resource, "/")
		r, err := c.client.AuthorizationV1().SubjectAccessReviews().Create(t.Context(), &authv1.SubjectAccessReview{Spec: authv1.SubjectAccessReviewSpec{
			User: sa, ResourceAttributes: &authv1.ResourceAttributes{Verb: tc.verb, Group: tc.group, Resource: resource, Subresource: sub},
		}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if r.Status.Allowed != tc.allowed {
			t.Errorf("%s %s %s.%s: allowed=%v, want %v", sa, tc.verb, tc.resource, tc.group, r.Status.Allowed, tc.allowed)
		}
	}
}

// TestClusterTrafficAndExecsUnderPodLabels: two pods exchange a known number
// of bytes, the client through a Service; the agent reports exactly those
// bytes (client tx, server rx, and nothing the other way) and each pod's
// execs under the pods' namespace/pod/container labels, and lists the flows
// with their peers named: the client's to the Service, with the server pod
// kube-proxy sent it to. The server's own count of what it received (its log)
// says the bytes really crossed.
func TestClusterTrafficAndExecsUnderPodLabels(t *testing.T) {
	c := newCluster(t)
	ns := c.namespace()
	clientLabels := map[string]string{"namespace": ns, "pod": "client", "container": "client"}
	serverLabels := map[string]string{"namespace": ns, "pod": "server", "container": "server"}
	server := c.busybox(ns, "server", serverScript, corev1.RestartPolicyNever)
	serverBefore := c.release(server, serverLabels)
	c.waitListening(server, serverPort)
	svc := c.service(ns, "server", servicePort, serverPort, server)
	client := c.busybox(ns, "client", clientScript(svc.Spec.ClusterIP, servicePort), corev1.RestartPolicyNever)
	clientBefore := c.release(client, clientLabels)

	c.checkReceived(ns, "server")

	tcp := func(direction string) map[string]string {
		return map[string]string{"protocol": "tcp", "direction": direction}
	}
	checks := []struct {
		name   string
		labels map[string]string
		extra  map[string]string
		want   float64
	}{
		{"orb8_process_exec_total", clientLabels, nil, clientBefore + clientExecs},
		{"orb8_process_exec_total", serverLabels, nil, serverBefore + serverExecs},
		{"orb8_network_bytes_total", clientLabels, tcp("tx"), payloadBytes},
		{"orb8_network_bytes_total", serverLabels, tcp("rx"), payloadBytes},
		// An absent series reads 0: neither side sent the other anything else.
		{"orb8_network_bytes_total", clientLabels, tcp("rx"), 0},
		{"orb8_network_bytes_total", serverLabels, tcp("tx"), 0},
	}
	var last prometheus.Gatherer
	defer func() {
		if t.Failed() && last != nil {
			families, _ := last.Gather()
			for _, f := range families {
				name := f.GetName()
				// Whether the agent was shedding connection records.
				if name == "orb8_overhead_ratio" || name == "orb8_sampling_ratio" {
					for _, m := range f.GetMetric() {
						t.Logf("%s %v", name, m)
					}
				}
				if name != "orb8_process_exec_total" && name != "orb8_network_bytes_total" {
					continue
				}
				for _, m := range f.GetMetric() {
					if slices.ContainsFunc(m.GetLabel(), func(l *dto.LabelPair) bool { return l.GetName() == "namespace" && l.GetValue() == ns }) {
						t.Logf("%s %v", name, m)
					}
				}
			}
		}
	}()
	c.eventually(time.Minute, "exec and byte counts under pod labels", func() bool {
		last = c.metrics()
		for _, ch := range checks {
			want := maps.Clone(ch.labels)
			maps.Copy(want, ch.extra)
			if v, _ := testutil.Sample(t, last, ch.name, want); v != ch.want {
				return false
			}
		}
		return true
	})
	for _, ch := range checks {
		t.Logf("%s %v %v = %v", ch.name, ch.labels, ch.extra, ch.want)
	}

	pod := func(name string) *pb.Peer { return &pb.Peer{Kind: "pod", Namespace: ns, Name: name} }
	want := []*pb.Flow{{
		Workload:   &pb.Workload{Pod: "client"},
		RemoteAddr: svc.Spec.ClusterIP, RemotePort: servicePort,
		RemotePeer:  &pb.Peer{Kind: "service", Namespace: ns, Name: "server"},
		BackendAddr: server.Status.PodIP, BackendPort: serverPort, BackendPeer: pod("server"),
		TxBytes: payloadBytes,
	}, {
		Workload:   &pb.Workload{Pod: "server"},
		RemoteAddr: client.Status.PodIP, RemotePeer: pod("client"),
		RxBytes: payloadBytes,
	}}
	c.eventually(time.Minute, "the pods' flows with their peers named", func() bool {
		flows := c.flows(ns)
		for _, w := range want {
			if !slices.ContainsFunc(flows, func(f *pb.Flow) bool { return flowMatches(f, w) }) {
				t.Logf("no flow like %v in %v", w, flows)
				return false
			}
		}
		return true
	})
}

// checkReceived waits for the server pod's log, its count of the bytes it
// received, and fails the test unless it is the payload: the test's traffic
// would be wrong, not orb8.
func (c *cluster) checkReceived(ns, pod string) {
	c.t.Helper()
	var received string
	c.eventually(time.Minute, pod+"'s count of received bytes", func() bool {
		raw, err := c.client.CoreV1().Pods(ns).GetLogs(pod, &corev1.PodLogOptions{}).DoRaw(c.t.Context())
		received = strings.TrimSpace(string(raw))
		return err == nil && received != ""
	})
	if received != strconv.Itoa(payloadBytes) {
		c.t.Fatalf("%s received %s bytes, want %d: the test's traffic is wrong, not orb8", pod, received, payloadBytes)
	}
}

// flowMatches compares the fields the test knows: the pod, remote and
// backend with their names, and the payload bytes.
func flowMatches(f, w *pb.Flow) bool {
	return f.GetWorkload().GetPod() == w.GetWorkload().GetPod() &&
		f.GetRemoteAddr() == w.GetRemoteAddr() && (w.GetRemotePort() == 0 || f.GetRemotePort() == w.GetRemotePort()) &&
		proto.Equal(f.GetRemotePeer(), w.GetRemotePeer()) &&
		f.GetBackendAddr() == w.GetBackendAddr() && f.GetBackendPort() == w.GetBackendPort() &&
		proto.Equal(f.GetBackendPeer(), w.GetBackendPeer()) &&
		f.GetTxBytes() == w.GetTxBytes() && f.GetRxBytes() == w.GetRxBytes()
}

// flows lists the agents' flows of namespace ns, as an admin.
func (c *cluster) flows(ns string) []*pb.Flow {
	c.t.Helper()
	flows, err := c.agents(c.cfg).Flows(c.t.Context(), &pb.ListFlowsRequest{Filter: &pb.WorkloadFilter{Namespace: ns}})
	if err != nil {
		c.t.Logf("flows: %v", err)
	}
	return flows
}

// service puts a ClusterIP Service named name on port in front of pod's
// targetPort, and waits until kube-proxy translates it to the pod.
func (c *cluster) service(ns, name string, port, targetPort int, pod *corev1.Pod) *corev1.Service {
	c.t.Helper()
	svc, err := c.client.CoreV1().Services(ns).Create(c.t.Context(), &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns},
		Spec: corev1.ServiceSpec{
			Selector: pod.Labels,
			Ports:    []corev1.ServicePort{{Port: int32(port), TargetPort: intstr.FromInt(targetPort), Protocol: corev1.ProtocolTCP}},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		c.t.Fatal(err)
	}
	// kube-proxy's rules: the Service's address, and the endpoint's DNAT.
	dnat := fmt.Sprintf("--to-destination %s:%d", pod.Status.PodIP, targetPort)
	c.eventually(time.Minute, "kube-proxy routing Service "+name, func() bool {
		rules, err := exec.Command("iptables-save", "-t", "nat").Output()
		return err == nil && bytes.Contains(rules, []byte("-d "+svc.Spec.ClusterIP+"/32")) && bytes.Contains(rules, []byte(dnat))
	})
	return svc
}

// waitListening waits until a process of pod listens on TCP port, read from
// /proc/<pid>/net/tcp{,6} of the pod's processes (the test runs on the node),
// so that a client started next does not race the server's listen.
func (c *cluster) waitListening(pod *corev1.Pod, port int) {
	c.t.Helper()
	// Local port, any remote address and port, state LISTEN (busybox nc listens on IPv6's any address).
	listen := regexp.MustCompile(fmt.Sprintf(`:%04X [0-9A-F]+:0000 0A `, port))
	c.eventually(time.Minute, fmt.Sprintf("pod %s listening on %d", pod.Name, port), func() bool {
		procs, _ := filepath.Glob("/proc/[0-9]*/cgroup")
		for _, f := range procs {
			cg, err := os.ReadFile(f)
			if err != nil || !bytes.Contains(cg, []byte("/pod"+string(pod.UID)+"/")) {
				continue
			}
			for _, table := range []string{"tcp", "tcp6"} {
				if tcp, err := os.ReadFile(filepath.Join(filepath.Dir(f), "net", table)); err == nil && listen.Match(tcp) {
					return true
				}
			}
		}
		return false
	})
}

// TestClusterSurvivesAPIServerRestart: with the API server down the agent
// keeps collecting (scraped on the bridge, names it knew kept); once it is
// back, a pod created afterwards is named.
func TestClusterSurvivesAPIServerRestart(t *testing.T) {
	c := newCluster(t)
	ns := c.namespace()
	before := map[string]string{"namespace": ns, "pod": "before", "container": "before"}
	beforeExecs := c.release(c.busybox(ns, "before", "exec /bin/busybox sleep 3600", corev1.RestartPolicyNever), before) + 1 // sleep
	c.eventually(time.Minute, "pod 'before' named", func() bool {
		v, _ := testutil.Sample(c.t, c.metrics(), "orb8_process_exec_total", before)
		return v == beforeExecs
	})

	clusterSh(t, "stop-apiserver")
	restarted := false
	defer func() {
		if !restarted {
			clusterSh(t, "start-apiserver")
		}
	}()
	time.Sleep(5 * time.Second)
	for _, path := range []string{"/healthz", "/readyz"} {
		if body, err := c.metricsDirect(path); err != nil || !strings.HasPrefix(string(body), "ok") && !strings.HasPrefix(string(body), "ready") {
			t.Fatalf("agent %s with the API server down: %q, %v", path, body, err)
		}
	}
	raw, err := c.metricsDirect("/metrics")
	if err != nil {
		t.Fatal(err)
	}
	if v, _ := testutil.Sample(t, testutil.Text(t, bytes.NewReader(raw)), "orb8_process_exec_total", before); v != beforeExecs {
		t.Errorf("with the API server down, pod 'before' has %v execs under its labels, want %v", v, beforeExecs)
	}
	clusterSh(t, "start-apiserver")
	restarted = true

	after := map[string]string{"namespace": ns, "pod": "after", "container": "after"}
	// Named once the API server is back (release waits for that), then true and sleep.
	afterExecs := c.release(c.busybox(ns, "after", "/bin/busybox true; exec /bin/busybox sleep 3600", corev1.RestartPolicyNever), after) + 2
	c.eventually(90*time.Second, fmt.Sprintf("%v execs of pod 'after' under its labels", afterExecs), func() bool {
		v, _ := testutil.Sample(c.t, c.metrics(), "orb8_process_exec_total", after)
		return v == afterExecs
	})
	agent, err := c.client.CoreV1().Pods(agentNamespace).Get(t.Context(), c.agent.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range agent.Status.ContainerStatuses {
		if s.RestartCount != c.agent.Status.ContainerStatuses[0].RestartCount {
			t.Errorf("agent container restarted during the API server outage: %d restarts", s.RestartCount)
		}
	}
}

func clusterSh(t *testing.T, cmd string) {
	t.Helper()
	out, err := exec.Command("../../hack/cluster.sh", cmd).CombinedOutput()
	if err != nil {
		t.Fatalf("hack/cluster.sh %s: %v\n%s", cmd, err, out)
	}
}

// TestClusterNamesStaticPods: a pod the kubelet runs from a manifest in its
// static pod directory has cgroups named by the manifest's hash, not by its
// mirror pod's UID; the agent names them with the mirror pod's namespace
// and name.
func TestClusterNamesStaticPods(t *testing.T) {
	c := newCluster(t)
	dir := filepath.Join(cmp.Or(os.Getenv("ORB8_CLUSTER_DIR"), "/var/lib/orb8-cluster"), "manifests")
	name := fmt.Sprintf("static-%d", time.Now().UnixNano()%1e9)
	manifest := filepath.Join(dir, name+".yaml")
	err := os.WriteFile(manifest, []byte(fmt.Sprintf(`apiVersion: v1
kind: Pod
metadata: {name: %s, namespace: default}
spec:
  terminationGracePeriodSeconds: 0
  containers:
  - name: sleeper
    image: docker.io/library/busybox:orb8
    imagePullPolicy: Never
    command: ["/bin/busybox", "sleep", "3600"]
`, name)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.Remove(manifest) })
	mirrorName := name + "-" + c.agent.Spec.NodeName
	var mirror *corev1.Pod
	c.eventually(2*time.Minute, "the static pod's mirror pod", func() bool {
		mirror, err = c.client.CoreV1().Pods("default").Get(t.Context(), mirrorName, metav1.GetOptions{})
		return err == nil && mirror.Annotations[corev1.MirrorPodAnnotationKey] != "" && len(mirror.Status.ContainerStatuses) == 1 &&
			mirror.Status.ContainerStatuses[0].ContainerID != ""
	})
	hash := mirror.Annotations[corev1.MirrorPodAnnotationKey]
	if hash == string(mirror.UID) {
		t.Fatalf("the mirror pod's UID is the manifest hash %s: the test shows nothing", hash)
	}
	labels := map[string]string{"namespace": "default", "pod": mirrorName, "container": "sleeper"}
	c.eventually(time.Minute, "the static pod's sleep process under its names", func() bool {
		v, _ := testutil.Sample(c.t, c.metrics(), "orb8_process_running", labels)
		return v == 1
	})
	list, err := c.agents(c.cfg).Workloads(t.Context(), &pb.ListWorkloadsRequest{Filter: &pb.WorkloadFilter{Namespace: "default", Pod: mirrorName}})
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, wf := range list {
		w := wf.GetWorkload()
		if w.GetContainer() == "sleeper" {
			found = true
			if w.GetPodUid() != hash || !strings.HasSuffix(mirror.Status.ContainerStatuses[0].ContainerID, "://"+w.GetContainerId()) {
				t.Errorf("static pod workload %v: want pod UID %s (the manifest hash) and container id of %s", w, hash, mirror.Status.ContainerStatuses[0].ContainerID)
			}
		}
	}
	if !found {
		t.Errorf("no workload of container sleeper in %v", list)
	}
}
