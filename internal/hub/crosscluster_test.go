package hub_test

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"net/netip"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/kube/kubetest"
	"github.com/orb8/orb8/internal/testutil"
)

// flowAgent is an agent of one node that answers with recorded flows.
type flowAgent struct {
	pb.UnimplementedAgentServer
	node     string
	flows    []*pb.Flow
	requests []*pb.Request // failing ones
}

func (a *flowAgent) GetStatus(context.Context, *pb.GetStatusRequest) (*pb.Status, error) {
	return &pb.Status{Node: a.node, Version: "fake"}, nil
}

func (a *flowAgent) ListFlows(context.Context, *pb.ListFlowsRequest) (*pb.ListFlowsResponse, error) {
	return &pb.ListFlowsResponse{Flows: a.flows}, nil
}

func (a *flowAgent) ListRequests(_ context.Context, req *pb.ListRequestsRequest) (*pb.ListRequestsResponse, error) {
	if req.GetKind() != "failing" {
		return &pb.ListRequestsResponse{}, nil
	}
	return &pb.ListRequestsResponse{Requests: a.requests}, nil
}

func outbound(ns, pod, remote string, port uint32, tx, rx uint64) *pb.Flow {
	return &pb.Flow{Workload: &pb.Workload{Namespace: ns, Pod: pod, Cgroup: "/kubepods/" + pod}, Protocol: "tcp", Direction: "outbound",
		RemoteAddr: remote, RemotePort: port, TxBytes: tx, RxBytes: rx}
}

// apiServer starts an API server of the test's own: one fleet member's.
func apiServer(t *testing.T) (*kubetest.Fixture, string) {
	t.Helper()
	s, err := kubetest.Start()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Stop)
	kubeconfig, err := s.Kubeconfig()
	if err != nil {
		t.Fatal(err)
	}
	return kubetest.NewFixtureOn(t, s), kubeconfig
}

// knownIn is every pod and Service address of a member's API server.
func knownIn(t *testing.T, f *kubetest.Fixture) map[string]bool {
	t.Helper()
	pods, err := f.Client.CoreV1().Pods("").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svcs, err := f.Client.CoreV1().Services("").List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	known := map[string]bool{}
	for _, p := range pods.Items {
		for _, ip := range p.Status.PodIPs {
			known[ip.IP] = true
		}
	}
	for _, s := range svcs.Items {
		for _, ip := range s.Spec.ClusterIPs {
			known[ip] = true
		}
	}
	return known
}

// TestHubNamesPeersAcrossClusters: members a and b, each an API server of
// its own (the hub's address index) and a fake agent (their flows). A flow
// from a to a pod and to a Service of b is named after b's objects; the
// --cross-cluster sums are exact; an address both clusters know (pod CIDRs
// that overlap, and the kubernetes Service both API servers make) is named
// after neither and reported; a member that leaves the configuration
// leaves the index.
func TestHubNamesPeersAcrossClusters(t *testing.T) {
	kubetest.Require(t)
	fa, kubeA := apiServer(t)
	fb, kubeB := apiServer(t)
	const (
		webIP, apiIP  = "10.1.0.5", "10.1.0.9"
		cartIP, svcIP = "10.2.0.7", "10.96.50.50"
		dupIP         = "10.9.9.9"
	)
	for _, f := range []*kubetest.Fixture{fa, fb} {
		for _, ns := range []string{"front", "shop"} {
			if _, err := f.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
	}
	fa.Pod("front", "web-0", "node-a", nil, webIP, map[string]string{"web": kubetest.ContainerID()})
	fa.Pod("front", "api-0", "node-a", nil, apiIP, map[string]string{"api": kubetest.ContainerID()})
	fa.Pod("front", "dup-a", "node-a", nil, dupIP, map[string]string{"c": kubetest.ContainerID()})
	fb.Pod("shop", "cart-0", "node-b", nil, cartIP, map[string]string{"cart": kubetest.ContainerID()})
	fb.Pod("shop", "dup-b", "node-b", nil, dupIP, map[string]string{"c": kubetest.ContainerID()})
	fb.Service("shop", "cart", svcIP)

	dir := t.TempDir()
	sockA, sockB := filepath.Join(dir, "a.sock"), filepath.Join(dir, "b.sock")
	serveFakeAgent(t, sockA, &flowAgent{node: "node-a", flows: []*pb.Flow{
		outbound("front", "web-0", cartIP, 8080, 1000, 200),
		outbound("front", "web-0", cartIP, 8080, 500, 100),
		outbound("front", "web-0", svcIP, 80, 300, 30),
		outbound("front", "web-0", dupIP, 80, 7, 0),
		outbound("front", "web-0", apiIP, 80, 11, 0),
		// The agent named it: the name stays, in the agent's member.
		{Workload: &pb.Workload{Namespace: "front", Pod: "web-0"}, Protocol: "tcp", Direction: "outbound", RemoteAddr: "10.1.0.10", RemotePort: 53,
			RemotePeer: &pb.Peer{Kind: "service", Namespace: "kube-system", Name: "dns"}, TxBytes: 3},
		// Inbound from b: named, but not summed (b's agent reports it).
		{Workload: &pb.Workload{Namespace: "front", Pod: "web-0"}, Protocol: "tcp", Direction: "inbound", RemoteAddr: cartIP, RemotePort: 40000, TxBytes: 5, RxBytes: 5},
	}, requests: []*pb.Request{
		{Workload: &pb.Workload{Namespace: "front", Pod: "web-0"}, Direction: "client", Method: "GET", Path: "/cart", StatusCode: 503, PeerAddr: cartIP, PeerPort: 8080},
	}})
	serveFakeAgent(t, sockB, &flowAgent{node: "node-b", flows: []*pb.Flow{
		outbound("shop", "cart-0", webIP, 80, 40, 4),
	}})
	cfg := filepath.Join(dir, "hub.yaml")
	writeHubConfig(t, cfg, fmt.Sprintf(`clusters:
- name: a
  kubeconfig: %s
  agents: ["unix://%s"]
- name: b
  kubeconfig: %s
  agents: ["unix://%s"]
`, kubeA, sockA, kubeB, sockB))
	hubAddr, c := serveHub(t, cfg)

	var st *pb.Status
	testutil.Eventually(t, 30*time.Second, func() bool {
		st, _ = c.Status(t.Context())
		m := st.GetAddressIndex().GetMembers()
		return len(m) == 2 && m[0].GetSynced() && m[1].GetSynced()
	}, "the hub's address index never synced: %v", st)

	flows, err := c.Flows(t.Context(), &pb.ListFlowsRequest{})
	if err != nil {
		t.Fatal(err)
	}
	peers := map[string]string{}
	for _, f := range flows {
		key := f.GetWorkload().GetCluster() + " " + f.GetDirection() + " " + f.GetRemoteAddr()
		name := f.GetRemotePeer().Describe()
		if o := f.GetRemoteOverlap(); len(o) > 0 {
			name = "overlap " + strings.Join(o, ",")
		}
		if prev, ok := peers[key]; ok && prev != name {
			t.Errorf("%s named %q and %q", key, prev, name)
		}
		peers[key] = name
	}
	want := map[string]string{
		"a outbound " + cartIP: "pod b/shop/cart-0",
		"a outbound " + svcIP:  "service b/shop/cart",
		"a outbound " + dupIP:  "overlap a,b",
		"a outbound " + apiIP:  "pod a/front/api-0",
		"a outbound 10.1.0.10": "service a/kube-system/dns",
		"a inbound " + cartIP:  "pod b/shop/cart-0",
		"b outbound " + webIP:  "pod a/front/web-0",
	}
	if !maps.Equal(peers, want) {
		t.Errorf("peers through the hub:\n%v\nwant\n%v", peers, want)
	}
	// A request's peer is named across the fleet too.
	reqs, err := c.Requests(t.Context(), &pb.ListRequestsRequest{Kind: "failing"})
	if err != nil || len(reqs) != 1 || reqs[0].GetWorkload().GetCluster() != "a" || reqs[0].GetPeer().Describe() != "pod b/shop/cart-0" {
		t.Errorf("failing requests through the hub: %v, %v; want a's GET /cart to pod b/shop/cart-0", reqs, err)
	}

	out, stderr := runCLI(t, "flows", "--hub", hubAddr, "--cross-cluster", "-o", "json")
	type traffic struct {
		SourceCluster, SourceNamespace, SourceWorkload                             string
		DestinationCluster, DestinationNamespace, DestinationKind, DestinationName string
		TxBytes, RxBytes, Connections                                              uint64
	}
	var sums []traffic
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var raw struct {
			SourceCluster        string `json:"source_cluster"`
			SourceNamespace      string `json:"source_namespace"`
			SourceWorkload       string `json:"source_workload"`
			DestinationCluster   string `json:"destination_cluster"`
			DestinationNamespace string `json:"destination_namespace"`
			DestinationKind      string `json:"destination_kind"`
			DestinationName      string `json:"destination_name"`
			TxBytes              uint64 `json:"tx_bytes"`
			RxBytes              uint64 `json:"rx_bytes"`
			Connections          uint64 `json:"connections"`
		}
		if err := json.Unmarshal([]byte(line), &raw); err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		sums = append(sums, traffic(raw))
	}
	wantSums := []traffic{ // busiest first
		{"a", "front", "web-0", "b", "shop", "pod", "cart-0", 1500, 300, 2},
		{"a", "front", "web-0", "b", "shop", "service", "cart", 300, 30, 1},
		{"b", "shop", "cart-0", "a", "front", "pod", "web-0", 40, 4, 1},
	}
	if !slices.Equal(sums, wantSums) || stderr != "" {
		t.Errorf("orb8 flows --hub --cross-cluster -o json:\n%+v\nwant\n%+v\nstderr %q", sums, wantSums, stderr)
	}
	table, _ := runCLI(t, "flows", "--hub", hubAddr, "--cross-cluster")
	if lines := strings.Split(strings.TrimSpace(table), "\n"); len(lines) != 4 || !strings.Contains(lines[1], "a/front/web-0") || !strings.Contains(lines[1], "b/shop/cart-0") || !strings.Contains(lines[1], "1.5 KiB") {
		t.Errorf("the table:\n%s", table)
	}

	// Every address both API servers know is an overlap of a and b.
	knownA, knownB := knownIn(t, fa), knownIn(t, fb)
	var both []string
	for ip := range knownA {
		if knownB[ip] {
			both = append(both, ip)
		}
	}
	slices.SortFunc(both, func(x, y string) int { return netip.MustParseAddr(x).Compare(netip.MustParseAddr(y)) })
	t.Logf("addresses both API servers know: %v", both)
	st, err = c.Status(t.Context())
	overlaps := st.GetAddressIndex().GetOverlaps()
	if err != nil || len(overlaps) != 1 || !slices.Equal(overlaps[0].GetClusters(), []string{"a", "b"}) ||
		overlaps[0].GetAddresses() != uint64(len(both)) || !slices.Equal(overlaps[0].GetExamples(), both[:min(len(both), 5)]) || !slices.Contains(both, dupIP) {
		t.Errorf("overlaps %v, %v; want a and b's %d: %v", overlaps, err, len(both), both)
	}
	members := st.GetAddressIndex().GetMembers()
	if len(members) != 2 || members[0].GetAddresses() != uint64(len(knownA)) || members[1].GetAddresses() != uint64(len(knownB)) {
		t.Errorf("index members %v; want a's %d addresses and b's %d", members, len(knownA), len(knownB))
	}
	text, _ := runCLI(t, "status", "--hub", hubAddr)
	if want := fmt.Sprintf("overlap: %d addresses known in clusters a, b", len(both)); !strings.Contains(text, want) {
		t.Errorf("orb8 status --hub says no %q:\n%s", want, text)
	}
	text, _ = runCLI(t, "status", "--hub", hubAddr, "-o", "json")
	var hubLine struct {
		Node         string `json:"node"`
		Version      string `json:"version"`
		AddressIndex struct {
			Overlaps []struct {
				Clusters  []string `json:"clusters"`
				Addresses string   `json:"addresses"` // uint64: a string in proto JSON
			} `json:"overlaps"`
		} `json:"addressIndex"`
	}
	first, _, _ := strings.Cut(text, "\n")
	if err := json.Unmarshal([]byte(first), &hubLine); err != nil || hubLine.Node != "hub" || hubLine.Version == "" || len(hubLine.AddressIndex.Overlaps) != 1 ||
		hubLine.AddressIndex.Overlaps[0].Addresses != fmt.Sprint(len(both)) {
		t.Errorf("orb8 status --hub -o json, first line %s: %+v, %v", first, hubLine, err)
	}

	// b leaves (its agent stays, by address only): its addresses go, and
	// with them the overlap.
	writeHubConfig(t, cfg, fmt.Sprintf("clusters:\n- name: a\n  kubeconfig: %s\n  agents: [\"unix://%s\"]\n- name: b\n  agents: [\"unix://%s\"]\n", kubeA, sockA, sockB))
	testutil.Eventually(t, 10*time.Second, func() bool {
		st, err = c.Status(t.Context())
		m := st.GetAddressIndex().GetMembers()
		return err == nil && len(m) == 1 && m[0].GetCluster() == "a" && len(st.GetAddressIndex().GetOverlaps()) == 0
	}, "after b left the index: %v, %v", st, err)
	flows, err = c.Flows(t.Context(), &pb.ListFlowsRequest{})
	for _, f := range flows {
		switch f.GetRemoteAddr() {
		case cartIP:
			if f.GetRemotePeer() != nil {
				t.Errorf("with b's API server gone, %s is still named %v", cartIP, f.GetRemotePeer())
			}
		case dupIP:
			if d := f.GetRemotePeer().Describe(); d != "pod a/front/dup-a" || len(f.GetRemoteOverlap()) != 0 {
				t.Errorf("with a alone, %s: %q, overlap %v; want a's pod", dupIP, d, f.GetRemoteOverlap())
			}
		}
	}
	if err != nil || len(flows) != 8 {
		t.Errorf("flows after b left: %d, %v", len(flows), err)
	}
}
