package cli

import (
	"bytes"
	"strings"
	"testing"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// Only outbound flows to another member's object are summed, per pair; a
// workload outside Kubernetes is its cgroup; the table escapes names.
func TestCrossClusterSums(t *testing.T) {
	b := &pb.Peer{Kind: "pod", Namespace: "shop", Name: "cart-0", Cluster: "b"}
	flow := func(w *pb.Workload, dir string, peer *pb.Peer, tx, rx uint64) *pb.Flow {
		return &pb.Flow{Workload: w, Direction: dir, RemotePeer: peer, TxBytes: tx, RxBytes: rx}
	}
	web := &pb.Workload{Cluster: "a", Namespace: "front", Pod: "web-0"}
	host := &pb.Workload{Cluster: "lab", Cgroup: "/system.slice/\x1b[31mjob.service"}
	got := crossCluster([]*pb.Flow{
		flow(web, "outbound", b, 10, 1),
		flow(web, "outbound", b, 20, 2),
		flow(web, "inbound", b, 100, 100), // b's agent reports it
		flow(web, "outbound", &pb.Peer{Kind: "pod", Namespace: "front", Name: "api", Cluster: "a"}, 5, 5), // within a
		flow(web, "outbound", &pb.Peer{Kind: "pod", Namespace: "front", Name: "api"}, 5, 5),               // an agent's name, no hub
		flow(web, "outbound", nil, 5, 5),
		flow(host, "outbound", b, 1, 0),
	})
	if len(got) != 2 || *got[0] != (crossClusterTraffic{"a", "front", "web-0", "b", "shop", "pod", "cart-0", 30, 3, 2}) ||
		got[1].source() != "lab:/system.slice/\x1b[31mjob.service" || got[1].Connections != 1 {
		t.Fatalf("sums: %+v", got)
	}
	var out bytes.Buffer
	if err := printCrossCluster(&out, "table", []*pb.Flow{flow(host, "outbound", b, 1, 0)}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "\x1b") || !strings.Contains(out.String(), "b/shop/cart-0") {
		t.Errorf("table not escaped:\n%q", out.String())
	}
}
