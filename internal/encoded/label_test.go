package encoded

import (
	"testing"

	"google.golang.org/protobuf/encoding/prototext"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/timestamppb"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// agentAnswer is an answer as agents send it: a time and workloads, one
// with labels and figures, one whose cluster is already set (an agent
// reached through another hub), one without a workload.
func agentAnswer() *pb.ListWorkloadsResponse {
	v := 3.5
	return &pb.ListWorkloadsResponse{Time: timestamppb.Now(), Workloads: []*pb.WorkloadFigures{
		{Workload: &pb.Workload{CgroupId: 7, Node: "n1", Namespace: "shop", Pod: "cart", Labels: map[string]string{"app": "cart"}},
			ExecTotal: &v, TopKernels: []*pb.KernelLaunches{{Kernel: "k", Runtime: "cuda", Launches: 2}},
			HttpServer: &pb.HTTPFigures{RequestsTotal: 4, Duration: []*pb.HistogramBucket{{}}}},
		{Workload: &pb.Workload{Node: "n1", Pod: "db", Cluster: "inner"}, MemoryUsageBytes: &v},
		{OpenFds: &v},
	}}
}

// labelled is what the hub answers for resp from member cluster: its
// workloads alone, each with cluster as its workload's.
func labelled(resp *pb.ListWorkloadsResponse, cluster string) *pb.ListWorkloadsResponse {
	want := &pb.ListWorkloadsResponse{Workloads: resp.GetWorkloads()}
	for _, w := range want.Workloads {
		if w.Workload == nil {
			w.Workload = &pb.Workload{}
		}
		w.Workload.Cluster = cluster
	}
	return want
}

func mustMarshal(t testing.TB, m proto.Message) []byte {
	b, err := proto.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// Every record carries its member exactly once: a cluster the agent set is
// replaced, a record without a workload gets one naming the member.
func TestLabelWorkloads(t *testing.T) {
	resp := agentAnswer()
	out, err := LabelWorkloads(mustMarshal(t, resp), "m07")
	if err != nil {
		t.Fatal(err)
	}
	var got pb.ListWorkloadsResponse
	if err := proto.Unmarshal(out, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Workloads) != 3 || got.Time != nil {
		t.Fatalf("labelled answer: %d workloads, time %v; want 3, none", len(got.Workloads), got.Time)
	}
	for i, w := range got.Workloads {
		if c := w.GetWorkload().GetCluster(); c != "m07" {
			t.Errorf("workload %d: cluster %q, want m07", i, c)
		}
	}
	if d := cmpDiff(labelled(agentAnswer(), "m07"), &got); d != "" {
		t.Errorf("labelled answer differs from the agent's with its cluster set:\n%s", d)
	}
}

// The parts of several answers concatenate to one answer, and a limit cuts
// it after the first workloads, across parts.
func TestLimitWorkloads(t *testing.T) {
	var m Message
	for _, c := range []string{"a", "b", "c"} {
		p, err := LabelWorkloads(mustMarshal(t, agentAnswer()), c)
		if err != nil {
			t.Fatal(err)
		}
		m = append(m, p)
	}
	for _, tc := range []struct{ limit, want int }{{0, 9}, {1, 1}, {3, 3}, {4, 4}, {8, 8}, {9, 9}, {10, 9}} {
		cut, err := LimitWorkloads(append(Message(nil), m...), tc.limit)
		if err != nil {
			t.Fatal(err)
		}
		var got pb.ListWorkloadsResponse
		for _, p := range cut {
			if err := (proto.UnmarshalOptions{Merge: true}).Unmarshal(p, &got); err != nil {
				t.Fatal(err)
			}
		}
		if len(got.Workloads) != tc.want {
			t.Errorf("limit %d: %d workloads, want %d", tc.limit, len(got.Workloads), tc.want)
			continue
		}
		for i, w := range got.Workloads {
			if c, want := w.GetWorkload().GetCluster(), []string{"a", "b", "c"}[i/3]; c != want {
				t.Errorf("limit %d: workload %d of cluster %q, want %q", tc.limit, i, c, want)
			}
		}
	}
}

func cmpDiff(want, got proto.Message) string {
	if proto.Equal(want, got) {
		return ""
	}
	return "want " + prototext.Format(want) + "\ngot  " + prototext.Format(got)
}
