package encoded

import (
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// The wire numbers of the fields that labelling touches.
var (
	workloadsField = fieldNumber(&pb.ListWorkloadsResponse{}, "workloads")
	workloadField  = fieldNumber(&pb.WorkloadFigures{}, "workload")
	clusterField   = fieldNumber(&pb.Workload{}, "cluster")
)

func fieldNumber(m proto.Message, name protoreflect.Name) protowire.Number {
	return m.ProtoReflect().Descriptor().Fields().ByName(name).Number()
}

// LabelWorkloads is answer, an encoded pb.ListWorkloadsResponse that
// Validate accepted, as the hub passes it on: its workloads alone, each
// with cluster as its workload's cluster. Each record gets a workload
// field of that cluster alone appended; a message field that occurs twice
// merges, and a string's last value wins, so a cluster the agent set is
// replaced (and a record without a workload gets one that names the
// cluster). The answer's other fields (its time) are left out.
func LabelWorkloads(answer []byte, cluster string) ([]byte, error) {
	label := protowire.AppendString(protowire.AppendTag(nil, clusterField, protowire.BytesType), cluster)
	suffix := protowire.AppendBytes(protowire.AppendTag(nil, workloadField, protowire.BytesType), label)
	// Room for every record of a typical answer (of ~400 bytes each).
	out := make([]byte, 0, len(answer)+len(answer)/256*(len(suffix)+2)+64)
	for b := answer; len(b) > 0; {
		num, typ, n := consumeTag(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		if num != workloadsField || typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return nil, protowire.ParseError(n)
			}
			b = b[n:]
			continue
		}
		record, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, protowire.ParseError(n)
		}
		b = b[n:]
		out = protowire.AppendTag(out, workloadsField, protowire.BytesType)
		out = protowire.AppendVarint(out, uint64(len(record)+len(suffix)))
		out = append(append(out, record...), suffix...)
	}
	return out, nil
}

// LimitWorkloads is m, encoded pb.ListWorkloadsResponse parts that hold
// workloads alone (as LabelWorkloads leaves them), cut after the first n
// workloads; n = 0 is no limit.
func LimitWorkloads(m Message, n int) (Message, error) {
	if n == 0 {
		return m, nil
	}
	for i, p := range m {
		for at := 0; at < len(p); n-- {
			if n == 0 {
				return append(m[:i:i], p[:at]), nil
			}
			_, _, l := protowire.ConsumeField(p[at:])
			if l < 0 {
				return nil, protowire.ParseError(l)
			}
			at += l
		}
	}
	return m, nil
}
