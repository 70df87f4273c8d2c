package cli

import (
	"cmp"
	"io"
	"slices"
	"strconv"

	pb "github.com/orb8/orb8/api/orb8/v1"
	"github.com/orb8/orb8/internal/humanize"
)

// crossClusterTraffic is the traffic from a workload of one fleet member to
// a pod or Service of another.
type crossClusterTraffic struct {
	SourceCluster   string `json:"source_cluster"`
	SourceNamespace string `json:"source_namespace"`
	// The pod, or the cgroup path of a workload outside Kubernetes.
	SourceWorkload       string `json:"source_workload"`
	DestinationCluster   string `json:"destination_cluster"`
	DestinationNamespace string `json:"destination_namespace"`
	DestinationKind      string `json:"destination_kind"` // pod or service
	DestinationName      string `json:"destination_name"`
	TxBytes              uint64 `json:"tx_bytes"`
	RxBytes              uint64 `json:"rx_bytes"`
	Connections          uint64 `json:"connections"`
}

// crossCluster sums, by pair of workloads, the outbound flows whose remote
// peer a hub named in another member than the flow's own. Inbound flows are
// left out: the connecting side's agent reports the same connection, so
// counting both would count it twice. Busiest pairs first.
func crossCluster(flows []*pb.Flow) []*crossClusterTraffic {
	type pair struct{ src, srcNS, srcWorkload, dst, dstNS, kind, name string }
	sums := map[pair]*crossClusterTraffic{}
	for _, f := range flows {
		w, peer := f.GetWorkload(), f.GetRemotePeer()
		if f.GetDirection() != "outbound" || peer.GetCluster() == "" || peer.GetCluster() == w.GetCluster() {
			continue
		}
		workload := cmp.Or(w.GetPod(), w.GetCgroup())
		k := pair{w.GetCluster(), w.GetNamespace(), workload, peer.GetCluster(), peer.GetNamespace(), peer.GetKind(), peer.GetName()}
		t := sums[k]
		if t == nil {
			t = &crossClusterTraffic{SourceCluster: k.src, SourceNamespace: k.srcNS, SourceWorkload: workload,
				DestinationCluster: k.dst, DestinationNamespace: k.dstNS, DestinationKind: k.kind, DestinationName: k.name}
			sums[k] = t
		}
		t.TxBytes += f.GetTxBytes()
		t.RxBytes += f.GetRxBytes()
		t.Connections++
	}
	out := make([]*crossClusterTraffic, 0, len(sums))
	for _, t := range sums {
		out = append(out, t)
	}
	slices.SortFunc(out, func(x, y *crossClusterTraffic) int {
		return cmp.Or(cmp.Compare(y.TxBytes+y.RxBytes, x.TxBytes+x.RxBytes),
			cmp.Compare(x.source(), y.source()), cmp.Compare(x.destination(), y.destination()))
	})
	return out
}

// source is cluster/namespace/pod, or cluster:cgroup outside Kubernetes.
func (t *crossClusterTraffic) source() string {
	if t.SourceNamespace == "" {
		return t.SourceCluster + ":" + t.SourceWorkload
	}
	return t.SourceCluster + "/" + t.SourceNamespace + "/" + t.SourceWorkload
}

func (t *crossClusterTraffic) destination() string {
	return t.DestinationCluster + "/" + t.DestinationNamespace + "/" + t.DestinationName
}

// printCrossCluster prints the pairs as a table (escaped), JSON lines or YAML.
func printCrossCluster(w io.Writer, format string, flows []*pb.Flow) error {
	p := newValuePrinter(w, format, []string{"SOURCE", "DESTINATION", "KIND", "TX", "RX", "CONNECTIONS"},
		func(t *crossClusterTraffic) []string {
			return []string{t.source(), t.destination(), t.DestinationKind,
				humanize.Bytes(float64(t.TxBytes)), humanize.Bytes(float64(t.RxBytes)), strconv.FormatUint(t.Connections, 10)}
		})
	for _, t := range crossCluster(flows) {
		if err := p.print(t); err != nil {
			return err
		}
	}
	return p.flush()
}
