//go:build e2e

package e2e

// The hub over two clusters side by side (hack/cluster.sh's a and b):
//
//	hack/cluster.sh up && hack/cluster.sh deploy
//	CLUSTER=b hack/cluster.sh up && CLUSTER=b hack/cluster.sh deploy
//	KUBECONFIG=/var/lib/orb8-cluster/admin.kubeconfig ORB8_KUBECONFIG_B=/var/lib/orb8-cluster-b/admin.kubeconfig \
//	  go test -tags e2e -run TwoClusters ./test/e2e/
//
// hack/e2e.sh does all of it.

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/apiclient"
	"github.com/orb8/orb8/internal/testutil"
)

// clusterB is hack/cluster.sh's second cluster, b.
func clusterB(t *testing.T) *cluster {
	t.Helper()
	path := os.Getenv("ORB8_KUBECONFIG_B")
	if path == "" {
		t.Fatal("ORB8_KUBECONFIG_B is not set: run CLUSTER=b hack/cluster.sh up && CLUSTER=b hack/cluster.sh deploy, then export ORB8_KUBECONFIG_B=<the KUBECONFIG it prints>")
	}
	return clusterAt(t, path)
}

// tickScript execs every 200 ms until the pod ends: a stream that carries
// the pod's events is live.
const tickScript = "while true; do /bin/busybox sleep 0.2; done"

// The connection from a to b stays open once the payload crossed: the
// agents list open connections from the kernel's sockets, whereas the record
// of a closed one can be shed under load (two clusters' control planes and
// agents on a small machine). The server writes how much it received once
// it has the payload (head exits there; nc keeps the connection, with
// nothing more to write); the client sends it, then keeps nc's input open.
const (
	// sleep, nc, head and wc.
	openServerScript = "/bin/busybox sleep 3600 | /bin/busybox nc -l -p 8080 | /bin/busybox head -c 100000 | /bin/busybox wc -c"
	// Five true, dd, sleep and nc.
	openClientScript = `i=0; while [ $i -lt 5 ]; do /bin/busybox true; i=$((i+1)); done
{ /bin/busybox dd if=/dev/zero bs=1000 count=100 2>/dev/null; exec /bin/busybox sleep 3600; } | /bin/busybox nc %s %d`
)

// TestClusterTwoClustersThroughTheHub: `orb8 hub` configured with the
// kubeconfigs of clusters a and b (each its own API server, kubelet,
// containerd and pod range on this machine, each with its agent) lists the
// pods of both under their cluster's name, merges their exec streams into
// one (exactly the execs of a's client and b's server, each once, under its
// own cluster), and names the peers of a connection from a pod of a to a pod
// of b by the other cluster's pods: a's outbound flow goes to b/<ns>/server,
// b's inbound flow comes from a/<ns>/client; `orb8 flows --hub
// --cross-cluster` sums the connection.
func TestClusterTwoClustersThroughTheHub(t *testing.T) {
	a, b := newCluster(t), clusterB(t)
	ns := a.namespace()
	b.createNamespace(ns)
	labels := func(pod string) map[string]string {
		return map[string]string{"namespace": ns, "pod": pod, "container": pod}
	}
	a.release(a.busybox(ns, "ticker", tickScript, corev1.RestartPolicyNever), labels("ticker"))
	b.release(b.busybox(ns, "ticker", tickScript, corev1.RestartPolicyNever), labels("ticker"))
	server := b.busybox(ns, "server", openServerScript, corev1.RestartPolicyNever)
	_, openServer := b.atGate(server, labels("server"))
	client := a.busybox(ns, "client", fmt.Sprintf(openClientScript, server.Status.PodIP, serverPort), corev1.RestartPolicyNever)
	_, openClient := a.atGate(client, labels("client"))

	hub, hubAddr := startHub(t, map[string]string{"a": os.Getenv("KUBECONFIG"), "b": os.Getenv("ORB8_KUBECONFIG_B")})

	// One stream of exec events of namespace ns from the whole fleet; live
	// once it carries both tickers' execs.
	var (
		mu     sync.Mutex
		execs  = map[string][]string{} // cluster/pod: the applets run, in order
		ctx, s = context.WithCancel(t.Context())
	)
	defer s()
	go hub.Watch(ctx, &pb.WatchEventsRequest{Kinds: []string{"exec"}, Filter: &pb.WorkloadFilter{Namespace: ns}}, func(msg *pb.WatchEventsResponse) error {
		e := msg.GetEvent()
		if e == nil {
			return nil
		}
		key := e.GetWorkload().GetCluster() + "/" + e.GetWorkload().GetPod()
		args := e.GetExec().GetArgs()
		if len(args) < 2 {
			args = append(args, "", "") // an exec without its applet's name
		}
		applet := args[1]
		mu.Lock()
		execs[key] = append(execs[key], applet)
		mu.Unlock()
		return nil
	})
	seen := func(key string) []string {
		mu.Lock()
		defer mu.Unlock()
		return slices.Clone(execs[key])
	}
	a.eventually(time.Minute, "the hub's stream carrying the execs of both tickers", func() bool {
		return len(seen("a/ticker")) > 0 && len(seen("b/ticker")) > 0
	})

	openServer()
	b.waitListening(server, serverPort)
	openClient()
	b.checkReceived(ns, "server")

	// The client's five true, dd, sleep and nc; the server's sleep, nc, head
	// and wc (the order of a pipeline's execs is the scheduler's).
	wantExecs := map[string][]string{
		"a/client": {"dd", "nc", "sleep", "true", "true", "true", "true", "true"},
		"b/server": {"head", "nc", "sleep", "wc"},
	}
	sortedExecs := func(key string) []string {
		got := seen(key)
		slices.Sort(got)
		return got
	}
	a.eventually(time.Minute, "the client's and the server's execs on the hub's stream", func() bool {
		for key, want := range wantExecs {
			if !slices.Equal(sortedExecs(key), want) {
				return false
			}
		}
		return true
	})

	// Both clusters' pods, each under its own cluster's name: their
	// containers, and no other pod (the pods' own and sandboxes' cgroups are
	// listed too, with no container name).
	var pods, containers []string
	wantPods := []string{"a/client", "a/ticker", "b/server", "b/ticker"}
	wantContainers := []string{"a/client/client", "a/ticker/ticker", "b/server/server", "b/ticker/ticker"}
	a.eventually(time.Minute, "the pods of both clusters on the hub", func() bool {
		list, err := hub.Workloads(t.Context(), &pb.ListWorkloadsRequest{Filter: &pb.WorkloadFilter{Namespace: ns}})
		pods, containers = nil, nil
		for _, wf := range list {
			w := wf.GetWorkload()
			pods = append(pods, w.GetCluster()+"/"+w.GetPod())
			if w.GetContainer() != "" {
				containers = append(containers, w.GetCluster()+"/"+w.GetPod()+"/"+w.GetContainer())
			}
		}
		slices.Sort(pods)
		slices.Sort(containers)
		pods = slices.Compact(pods)
		if err != nil || !slices.Equal(pods, wantPods) || !slices.Equal(containers, wantContainers) {
			t.Logf("the hub's workloads of %s: pods %q, containers %q, %v", ns, pods, containers, err)
			return false
		}
		return true
	})
	// Each cluster's agent under its name; both pod ranges indexed, and no
	// address in both (the clusters' pod and Service ranges differ).
	status, err := hub.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var nodes, indexed []string
	for _, st := range status.GetAgents() {
		nodes = append(nodes, st.GetCluster()+"/"+st.GetNode())
	}
	for _, m := range status.GetAddressIndex().GetMembers() {
		indexed = append(indexed, fmt.Sprintf("%s synced=%v error=%q", m.GetCluster(), m.GetSynced(), m.GetError()))
	}
	slices.Sort(nodes)
	slices.Sort(indexed)
	if want := []string{"a/" + a.agent.Spec.NodeName, "b/" + b.agent.Spec.NodeName}; !slices.Equal(nodes, want) {
		t.Errorf("the hub's agents: %q, want %q", nodes, want)
	}
	if want := []string{`a synced=true error=""`, `b synced=true error=""`}; !slices.Equal(indexed, want) {
		t.Errorf("the hub's address index: %q, want %q", indexed, want)
	}
	if o := status.GetAddressIndex().GetOverlaps(); len(o) != 0 {
		t.Errorf("addresses known in both clusters: %v", o)
	}

	// The connection from a to b, named across the clusters by the hub.
	peer := func(cluster, pod string) *pb.Peer {
		return &pb.Peer{Kind: "pod", Namespace: ns, Name: pod, Cluster: cluster}
	}
	want := []*pb.Flow{{
		Workload:   &pb.Workload{Pod: "client"},
		RemoteAddr: server.Status.PodIP, RemotePort: serverPort, RemotePeer: peer("b", "server"),
		TxBytes: payloadBytes,
	}, {
		Workload:   &pb.Workload{Pod: "server"},
		RemoteAddr: client.Status.PodIP, RemotePeer: peer("a", "client"),
		RxBytes: payloadBytes,
	}}
	wantCluster := map[string]string{"client": "a", "server": "b"}
	defer func() {
		if t.Failed() {
			for name, c := range map[string]*cluster{"a": a, "b": b} {
				g := c.metrics()
				overhead, _ := testutil.Sample(t, g, "orb8_overhead_ratio", nil)
				sampling, _ := testutil.Sample(t, g, "orb8_sampling_ratio", map[string]string{"probe": "network"})
				t.Logf("cluster %s's agent: overhead %v, network sampling %v", name, overhead, sampling)
				t.Logf("cluster %s's agent's flows of %s: %v", name, ns, c.flows(ns))
			}
		}
	}()
	a.eventually(time.Minute, "the connection's flows on the hub, their peers named in the other cluster", func() bool {
		flows, err := hub.Flows(t.Context(), &pb.ListFlowsRequest{Filter: &pb.WorkloadFilter{Namespace: ns}})
		for _, w := range want {
			if !slices.ContainsFunc(flows, func(f *pb.Flow) bool {
				return flowMatches(f, w) && f.GetWorkload().GetCluster() == wantCluster[f.GetWorkload().GetPod()]
			}) {
				t.Logf("no flow like %v in %v (%v)", w, flows, err)
				return false
			}
		}
		return true
	})
	out, err := exec.Command(testutil.Binary(t), "flows", "--hub", hubAddr, "--cross-cluster", "-n", ns, "-o", "json", "--timeout", "30s").Output()
	if err != nil {
		t.Fatalf("orb8 flows --hub --cross-cluster: %v\n%s", err, out)
	}
	wantLine := fmt.Sprintf(`{"source_cluster":"a","source_namespace":%[1]q,"source_workload":"client","destination_cluster":"b","destination_namespace":%[1]q,"destination_kind":"pod","destination_name":"server","tx_bytes":%[2]d,"rx_bytes":0,"connections":1}`, ns, payloadBytes)
	if got := strings.TrimSpace(string(out)); got != wantLine {
		t.Errorf("orb8 flows --hub --cross-cluster -n %s:\n%s\nwant\n%s", ns, got, wantLine)
	}

	// Still each exec once: neither agent named the other cluster's pods.
	for key, want := range wantExecs {
		if got := sortedExecs(key); !slices.Equal(got, want) {
			t.Errorf("the hub's stream: %s ran %q, want %q", key, got, want)
		}
	}
}

// startHub runs `orb8 hub` with members named after the kubeconfigs given,
// and dials it once it lists an agent of each.
func startHub(t *testing.T, kubeconfigs map[string]string) (*apiclient.Agent, string) {
	t.Helper()
	var cfg strings.Builder
	cfg.WriteString("clusters:\n")
	for name, path := range kubeconfigs {
		fmt.Fprintf(&cfg, "- name: %s\n  kubeconfig: %s\n  timeout: 30s\n", name, path)
	}
	config := filepath.Join(t.TempDir(), "hub.yaml")
	if err := os.WriteFile(config, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	addr, _ := testutil.StartHub(t, config)
	var hub *apiclient.Agent
	deadline := time.Now().Add(time.Minute)
	for {
		var err error
		if hub == nil {
			hub, err = apiclient.Dial(t.Context(), addr, apiclient.TLS{}, 30*time.Second)
		}
		if err == nil {
			var st []*pb.Status
			if st, err = hub.Statuses(t.Context()); err == nil && len(st) == len(kubeconfigs) {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the hub never listed an agent of each member: %v", err)
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Cleanup(func() { hub.Close() })
	return hub, addr
}
