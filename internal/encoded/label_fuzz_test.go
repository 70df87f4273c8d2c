package encoded

import (
	"testing"
	"unicode/utf8"

	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// FuzzLabelWorkloads: for any answer, Validate accepts it exactly when it
// decodes, and then the labelled answer decodes to the agent's answer with
// every workload's cluster set (its time and unknown fields left out).
func FuzzLabelWorkloads(f *testing.F) {
	f.Add(mustMarshal(f, agentAnswer()), "m01")
	f.Add(mustMarshal(f, &pb.ListWorkloadsResponse{}), "")
	f.Add(mustMarshal(f, &pb.ListWorkloadsResponse{Workloads: []*pb.WorkloadFigures{{}}}), "é")
	// A workload field of the wrong wire type, a group, a truncated record.
	f.Add(protowire.AppendVarint(protowire.AppendTag(nil, 2, protowire.VarintType), 5), "x")
	f.Add(append(protowire.AppendTag(nil, 9, protowire.StartGroupType), protowire.AppendTag(nil, 9, protowire.EndGroupType)...), "x")
	f.Add(mustMarshal(f, agentAnswer())[:40], "x")
	f.Fuzz(func(t *testing.T, answer []byte, cluster string) {
		if !utf8.ValidString(cluster) {
			t.Skip("members are named in YAML, which is UTF-8")
		}
		var resp pb.ListWorkloadsResponse
		decodeErr := proto.Unmarshal(answer, &resp)
		validErr := Validate(resp.ProtoReflect().Descriptor(), answer)
		if (decodeErr == nil) != (validErr == nil) {
			t.Fatalf("proto.Unmarshal: %v; Validate: %v", decodeErr, validErr)
		}
		if decodeErr != nil {
			return
		}
		out, err := LabelWorkloads(answer, cluster)
		if err != nil {
			t.Fatalf("a valid answer not labelled: %v", err)
		}
		var got pb.ListWorkloadsResponse
		if err := proto.Unmarshal(out, &got); err != nil {
			t.Fatalf("labelled answer does not decode: %v", err)
		}
		resp.ProtoReflect().SetUnknown(nil)
		want := labelled(&resp, cluster)
		if d := cmpDiff(want, &got); d != "" {
			t.Fatalf("labelled answer differs:\n%s", d)
		}
	})
}
