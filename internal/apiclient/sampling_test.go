package apiclient

import (
	"testing"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

func TestSamplingNote(t *testing.T) {
	for _, tc := range []struct {
		p    *pb.ProbeStatus
		want string
	}{
		{&pb.ProbeStatus{Name: "process"}, ""},
		{&pb.ProbeStatus{Name: "cuda", Sampling: []*pb.Sampling{{Call: "launch", Ratio: 1}, {Call: "gemm", Ratio: 1}}}, ""},
		{&pb.ProbeStatus{Name: "cuda", SampledProcesses: 1, Sampling: []*pb.Sampling{{Call: "launch", Ratio: 1}}},
			"sampled in 1 process(es)"},
		{&pb.ProbeStatus{Name: "cuda", SampledProcesses: 2, Sampling: []*pb.Sampling{{Call: "launch", Ratio: 0.0261}, {Call: "gemm", Ratio: 0.5}}},
			"sampled in 2 process(es), counted launch 2.6%, gemm 50.0% (the rest estimated)"},
	} {
		if got := SamplingNote(tc.p); got != tc.want {
			t.Errorf("SamplingNote(%v) = %q, want %q", tc.p, got, tc.want)
		}
	}
}
