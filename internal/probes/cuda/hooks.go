package cuda

import (
	"path/filepath"
	"slices"
	"strings"
)

// hook is one hooked function of a CUDA library. Its op travels to the BPF
// programs as the attach cookie.
type hook struct {
	symbol string
	op     cudaOp
	// withReturn hooks run call_enter and call_return: they are counted on
	// success, and driver calls nested in them are not counted again. The
	// others run driver_call at entry only, the cheaper probe.
	withReturn bool
}

// library is a CUDA shared library orb8 hooks, recognised by file name.
type library struct {
	name   string // the "library" label
	soname string // libcudart.so matches libcudart.so, libcudart.so.13, libcudart.so.13.0.48
	hooks  []hook
}

func hooks(op cudaOp, withReturn bool, symbols ...string) []hook {
	out := make([]hook, len(symbols))
	for i, s := range symbols {
		out[i] = hook{symbol: s, op: op, withReturn: withReturn}
	}
	return out
}

// The _ptsz/_ptds variants are the per-thread-default-stream entry points
// that code built with --default-stream per-thread calls.
var libraries = []library{
	{name: "cudart", soname: "libcudart.so", hooks: slices.Concat(
		hooks(cudaOpOP_MALLOC, true, "cudaMalloc", "cudaMallocManaged", "cudaMallocAsync", "cudaMallocAsync_ptsz"),
		hooks(cudaOpOP_FREE, true, "cudaFree", "cudaFreeAsync", "cudaFreeAsync_ptsz"),
		hooks(cudaOpOP_LAUNCH, true, "cudaLaunchKernel", "cudaLaunchKernel_ptsz", "cudaLaunchKernelExC",
			"cudaLaunchKernelExC_ptsz", "cudaLaunchCooperativeKernel", "cudaLaunchCooperativeKernel_ptsz"),
		hooks(cudaOpOP_MEMCPY, true, "cudaMemcpy", "cudaMemcpy_ptds", "cudaMemcpyAsync", "cudaMemcpyAsync_ptsz"),
	)},
	{name: "cuda", soname: "libcuda.so", hooks: slices.Concat(
		hooks(cudaOpOP_MALLOC, true, "cuMemAlloc_v2", "cuMemAllocManaged", "cuMemAllocAsync", "cuMemAllocAsync_ptsz"),
		hooks(cudaOpOP_FREE, false, "cuMemFree_v2", "cuMemFreeAsync", "cuMemFreeAsync_ptsz"),
		hooks(cudaOpOP_LAUNCH, false, "cuLaunchKernel", "cuLaunchKernel_ptsz", "cuLaunchKernelEx", "cuLaunchKernelEx_ptsz",
			"cuLaunchCooperativeKernel", "cuLaunchCooperativeKernel_ptsz"),
		hooks(cudaOpOP_COPY_H2D, false, "cuMemcpyHtoD_v2", "cuMemcpyHtoD_v2_ptds", "cuMemcpyHtoDAsync_v2", "cuMemcpyHtoDAsync_v2_ptsz"),
		hooks(cudaOpOP_COPY_D2H, false, "cuMemcpyDtoH_v2", "cuMemcpyDtoH_v2_ptds", "cuMemcpyDtoHAsync_v2", "cuMemcpyDtoHAsync_v2_ptsz"),
		hooks(cudaOpOP_COPY_D2D, false, "cuMemcpyDtoD_v2", "cuMemcpyDtoD_v2_ptds", "cuMemcpyDtoDAsync_v2", "cuMemcpyDtoDAsync_v2_ptsz"),
		hooks(cudaOpOP_COPY_ANY, false, "cuMemcpy", "cuMemcpy_ptds", "cuMemcpyAsync", "cuMemcpyAsync_ptsz"),
	)},
}

// libraryOf returns the hooked library a mapped file is, if any.
func libraryOf(path string) (*library, bool) {
	base := filepath.Base(path)
	for i := range libraries {
		l := &libraries[i]
		if base == l.soname || strings.HasPrefix(base, l.soname+".") {
			return l, true
		}
	}
	return nil, false
}
