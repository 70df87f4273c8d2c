package api

import (
	"cmp"
	"slices"

	dto "github.com/prometheus/client_model/go"

	pb "github.com/orb8/orb8/api/orb8/v1"
)

// maxTopKernels is how many kernels WorkloadFigures.top_kernels lists.
const maxTopKernels = 10

// kernelLaunches folds one series of
// orb8_accelerator_kernel_launches_by_name_total into the workload's kernels
// (topKernels keeps the most launched).
func kernelLaunches(f *pb.WorkloadFigures, m *dto.Metric) {
	kernel, runtime := labelValue(m, "kernel"), labelValue(m, "runtime")
	for _, k := range f.TopKernels {
		if k.Kernel == kernel && k.Runtime == runtime {
			k.Launches += sampleValue(m)
			return
		}
	}
	f.TopKernels = append(f.TopKernels, &pb.KernelLaunches{Kernel: kernel, Runtime: runtime, Launches: sampleValue(m)})
}

// topKernels orders a workload's kernels most launched first (then by
// name) and keeps maxTopKernels.
func topKernels(f *pb.WorkloadFigures) {
	slices.SortFunc(f.TopKernels, func(a, b *pb.KernelLaunches) int {
		return cmp.Or(cmp.Compare(b.Launches, a.Launches), cmp.Compare(a.Kernel, b.Kernel), cmp.Compare(a.Runtime, b.Runtime))
	})
	f.TopKernels = f.TopKernels[:min(len(f.TopKernels), maxTopKernels)]
}
