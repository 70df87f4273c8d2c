package api

import (
	"fmt"
	"testing"

	dto "github.com/prometheus/client_model/go"
	"google.golang.org/protobuf/proto"
)

// TestTopKernels: a workload's kernels are listed most launched first, the
// series of one kernel summed, and cut to maxTopKernels.
func TestTopKernels(t *testing.T) {
	series := func(kernel string, v float64) *dto.Metric {
		return &dto.Metric{
			Label: []*dto.LabelPair{
				{Name: proto.String("cgroup"), Value: proto.String("/app")},
				{Name: proto.String("kernel"), Value: proto.String(kernel)},
				{Name: proto.String("runtime"), Value: proto.String("cuda")},
			},
			Counter: &dto.Counter{Value: proto.Float64(v)},
		}
	}
	fam := &dto.MetricFamily{Name: proto.String("orb8_accelerator_kernel_launches_by_name_total")}
	for i := range 12 {
		fam.Metric = append(fam.Metric, series(fmt.Sprintf("k%02d", i), float64(i)))
	}
	fam.Metric = append(fam.Metric, series("k00", 20)) // another container's series of k00
	keep, err := compileFilter(nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	list := workloadFigures([]*dto.MetricFamily{fam}, keep, "node", nil)
	if len(list) != 1 {
		t.Fatalf("%d workloads, want 1", len(list))
	}
	top := list[0].GetTopKernels()
	want := []string{"k00", "k11", "k10", "k09", "k08", "k07", "k06", "k05", "k04", "k03"}
	if len(top) != len(want) {
		t.Fatalf("%d top kernels, want %d: %v", len(top), len(want), top)
	}
	for i, k := range top {
		if k.GetKernel() != want[i] || k.GetRuntime() != "cuda" {
			t.Errorf("top kernel %d: %v, want %s", i, k, want[i])
		}
	}
	if top[0].GetLaunches() != 20 {
		t.Errorf("k00: %v launches, want 20 (its series summed)", top[0].GetLaunches())
	}
}
