package cuda

import (
	"path/filepath"
	"slices"
	"strings"

	"github.com/orb8/orb8/internal/probe/uprobe"
)

// hook is one hooked function of a runtime library. Its op travels to the
// BPF programs as the attach cookie.
type hook struct {
	symbol string
	op     cudaOp
	// withReturn hooks (allocations, whose pointer is known at return) run
	// alloc_enter and alloc_return and are counted on success. The others run
	// call_entry only, one trap instead of two, and are counted at entry.
	withReturn bool
	// batchArg: the batch count of a batched GEMM is its argument number
	// batchArg (1-based, one passed on the stack); 0 for one GEMM.
	batchArg uint8
	// exact: every call is counted, never sampled (the HIP and Neuron
	// runtimes: the sampler's estimates are the CUDA runtime's).
	exact bool
	// config: a launch whose dimensions come in a launch config struct
	// (kernels_hooks.go).
	config bool
}

// library is a runtime shared library orb8 hooks, recognised by file name.
type library struct {
	name    string // the "library" label
	runtime cudaRuntime
	soname  string // libcudart.so matches libcudart.so, libcudart.so.13, libcudart.so.13.0.48
	// Libraries form two families, each an outer library and the one it
	// calls: the runtime over the driver, cuBLAS over cuBLASLt. outer: hooked
	// calls of its family that this library's code makes are nested in its
	// own hooked calls, which count them.
	blas  bool
	outer bool
	// driver: its launches are the driver's (the launch level below the
	// runtime's).
	driver bool
	hooks  []hook
}

// cookie is what the BPF programs learn about a hooked function at a probe
// point (enum cookie in cuda.bpf.c).
func (l *library) cookie(h hook, pt uprobe.Point) uint64 {
	c := uint64(h.op) | uint64(l.runtime)<<cudaCookieCOOKIE_RUNTIME_SHIFT | uint64(h.batchArg)<<cudaCookieCOOKIE_BATCH_ARG_SHIFT
	if l.blas {
		c |= uint64(cudaCookieCOOKIE_BLAS)
	}
	if l.driver {
		c |= uint64(cudaCookieCOOKIE_DRIVER)
	}
	if h.config {
		c |= uint64(cudaLaunchCookieCOOKIE_LAUNCH_CONFIG)
	}
	if l.outer {
		pages := min((pt.TextSize+4095)/4096, 0xffff) // 256 MiB; libcudart's code is ~1 MiB
		c |= uint64(cudaCookieCOOKIE_OUTER) | pages<<cudaCookieCOOKIE_TEXT_PAGES_SHIFT |
			pt.TextOffset<<cudaCookieCOOKIE_TEXT_OFFSET_SHIFT
	}
	return c
}

// The calls sampled by default (per process, in windows), as the call label
// of orb8_accelerator_sampling_ratio names them: the ones a launch-bound
// process makes by the hundred thousand a second.
const (
	callLaunch = "launch"
	callGEMM   = "gemm"
)

// sampledCalls lists them in label order.
var sampledCalls = [...]string{callLaunch, callGEMM}

// sampled returns the call class of a hook sampled by default, "" for a
// hook that counts every call (allocations, frees, copies: rare, and leak
// detection needs every one).
func (h hook) sampled() string {
	if h.exact {
		return ""
	}
	switch h.op {
	case cudaOpOP_LAUNCH:
		return callLaunch
	case cudaOpOP_GEMM, cudaOpOP_GEMM_COMPLEX, cudaOpOP_GEMM_OPAQUE:
		return callGEMM
	}
	return ""
}

// hasSampled reports whether some hook of the library is sampled by default.
func (l *library) hasSampled() bool {
	for _, h := range l.hooks {
		if h.sampled() != "" {
			return true
		}
	}
	return false
}

func hooks(op cudaOp, withReturn bool, symbols ...string) []hook {
	out := make([]hook, len(symbols))
	for i, s := range symbols {
		out[i] = hook{symbol: s, op: op, withReturn: withReturn}
	}
	return out
}

// exactly marks hooks whose every call is counted.
func exactly(hs ...[]hook) []hook {
	out := slices.Concat(hs...)
	for i := range out {
		out[i].exact = true
	}
	return out
}

// batched is a batched GEMM whose batch count is its argument number arg
// (1-based), on the stack.
func batched(op cudaOp, arg int, symbol string) hook {
	return hook{symbol: symbol, op: op, batchArg: uint8(arg)}
}

// runtimes are the runtime label values, indexed like enum runtime.
var runtimes = [...]string{cudaRuntimeRUNTIME_CUDA: "cuda", cudaRuntimeRUNTIME_HIP: "hip", cudaRuntimeRUNTIME_NRT: "nrt"}

// libraries is the one table of what is hooked, for every runtime: library
// file name, then symbols and what each is (hook kind). Discovery (mapped
// libraries, late dlopen, any container) and attaching serve them all.
//
// The _ptsz/_ptds variants (HIP: _spt) are the per-thread-default-stream
// entry points that code built with --default-stream per-thread calls.
var libraries = []library{
	{name: "cudart", soname: "libcudart.so", outer: true, hooks: slices.Concat(
		hooks(cudaOpOP_MALLOC, true, "cudaMalloc", "cudaMallocManaged", "cudaMallocAsync", "cudaMallocAsync_ptsz"),
		hooks(cudaOpOP_FREE, false, "cudaFree", "cudaFreeAsync", "cudaFreeAsync_ptsz"),
		hooks(cudaOpOP_LAUNCH, false, "cudaLaunchKernel", "cudaLaunchKernel_ptsz",
			"cudaLaunchCooperativeKernel", "cudaLaunchCooperativeKernel_ptsz"),
		configLaunches("cudaLaunchKernelExC", "cudaLaunchKernelExC_ptsz"),
		hooks(cudaOpOP_MEMCPY, false, "cudaMemcpy", "cudaMemcpy_ptds", "cudaMemcpyAsync", "cudaMemcpyAsync_ptsz"),
	)},
	{name: "cuda", soname: "libcuda.so", driver: true, hooks: slices.Concat(
		hooks(cudaOpOP_MALLOC, true, "cuMemAlloc_v2", "cuMemAllocManaged", "cuMemAllocAsync", "cuMemAllocAsync_ptsz"),
		hooks(cudaOpOP_FREE, false, "cuMemFree_v2", "cuMemFreeAsync", "cuMemFreeAsync_ptsz"),
		hooks(cudaOpOP_LAUNCH, false, "cuLaunchKernel", "cuLaunchKernel_ptsz",
			"cuLaunchCooperativeKernel", "cuLaunchCooperativeKernel_ptsz"),
		configLaunches("cuLaunchKernelEx", "cuLaunchKernelEx_ptsz"),
		nameHooks,
		hooks(cudaOpOP_COPY_H2D, false, "cuMemcpyHtoD_v2", "cuMemcpyHtoD_v2_ptds", "cuMemcpyHtoDAsync_v2", "cuMemcpyHtoDAsync_v2_ptsz"),
		hooks(cudaOpOP_COPY_D2H, false, "cuMemcpyDtoH_v2", "cuMemcpyDtoH_v2_ptds", "cuMemcpyDtoHAsync_v2", "cuMemcpyDtoHAsync_v2_ptsz"),
		hooks(cudaOpOP_COPY_D2D, false, "cuMemcpyDtoD_v2", "cuMemcpyDtoD_v2_ptds", "cuMemcpyDtoDAsync_v2", "cuMemcpyDtoDAsync_v2_ptsz"),
		hooks(cudaOpOP_COPY_ANY, false, "cuMemcpy", "cuMemcpy_ptds", "cuMemcpyAsync", "cuMemcpyAsync_ptsz"),
	)},
	// GEMMs: (handle, transa, transb, m, n, k, ...), FLOPs from m, n, k.
	{name: "cublas", soname: "libcublas.so", blas: true, outer: true, hooks: slices.Concat(
		hooks(cudaOpOP_GEMM, false, "cublasSgemm_v2", "cublasDgemm_v2", "cublasHgemm", "cublasGemmEx"),
		hooks(cudaOpOP_GEMM_COMPLEX, false, "cublasCgemm_v2", "cublasZgemm_v2"),
		[]hook{
			batched(cudaOpOP_GEMM, 18, "cublasSgemmStridedBatched"),
			batched(cudaOpOP_GEMM, 18, "cublasDgemmStridedBatched"),
			batched(cudaOpOP_GEMM, 18, "cublasHgemmStridedBatched"),
			batched(cudaOpOP_GEMM, 21, "cublasGemmStridedBatchedEx"),
			batched(cudaOpOP_GEMM, 15, "cublasSgemmBatched"),
			batched(cudaOpOP_GEMM, 15, "cublasDgemmBatched"),
			batched(cudaOpOP_GEMM, 15, "cublasHgemmBatched"),
			batched(cudaOpOP_GEMM, 18, "cublasGemmBatchedEx"),
		},
	)},
	// Matrix shapes are in opaque layout descriptors: calls counted, no FLOPs.
	{name: "cublasLt", soname: "libcublasLt.so", blas: true, hooks: hooks(cudaOpOP_GEMM_OPAQUE, false, "cublasLtMatmul")},
	// AMD's HIP runtime (ROCm), the CUDA runtime's signatures under other
	// names: hipMemcpyKind numbers directions as cudaMemcpyKind does. No
	// driver library below it is hooked. A graph launch counts as one launch.
	{name: "amdhip64", soname: "libamdhip64.so", runtime: cudaRuntimeRUNTIME_HIP, outer: true, hooks: exactly(
		hooks(cudaOpOP_MALLOC, true, "hipMalloc", "hipMallocManaged", "hipMallocAsync", "hipExtMallocWithFlags"),
		hooks(cudaOpOP_FREE, false, "hipFree", "hipFreeAsync"),
		hooks(cudaOpOP_LAUNCH, false, "hipLaunchKernel", "hipLaunchKernel_spt", "hipModuleLaunchKernel",
			"hipExtModuleLaunchKernel", "hipLaunchCooperativeKernel", "hipGraphLaunch", "hipGraphLaunch_spt"),
		// hipMemcpyWithStream: PyTorch's blocking copies (.to(), .cpu()).
		hooks(cudaOpOP_MEMCPY, false, "hipMemcpy", "hipMemcpy_spt", "hipMemcpyAsync", "hipMemcpyAsync_spt", "hipMemcpyWithStream"),
		hooks(cudaOpOP_COPY_H2D, false, "hipMemcpyHtoD", "hipMemcpyHtoDAsync"),
		hooks(cudaOpOP_COPY_D2H, false, "hipMemcpyDtoH", "hipMemcpyDtoHAsync"),
		hooks(cudaOpOP_COPY_D2D, false, "hipMemcpyDtoD", "hipMemcpyDtoDAsync"),
	)},
	// The AWS Neuron runtime (Trainium, Inferentia): a model execution is
	// its launch; device tensors its allocations; loaded models are counted
	// (nrt.h).
	{name: "nrt", soname: "libnrt.so", runtime: cudaRuntimeRUNTIME_NRT, outer: true, hooks: exactly(
		hooks(cudaOpOP_TENSOR_ALLOC, true, "nrt_tensor_allocate"),
		hooks(cudaOpOP_TENSOR_FREE, false, "nrt_tensor_free"),
		hooks(cudaOpOP_LAUNCH, false, "nrt_execute"),
		hooks(cudaOpOP_LAUNCH_REPEAT, false, "nrt_execute_repeat"),
		hooks(cudaOpOP_MODEL_LOAD, true, "nrt_load"),
		hooks(cudaOpOP_MODEL_LOAD_COLLECTIVES, true, "nrt_load_collectives"),
		hooks(cudaOpOP_FREE, false, "nrt_unload"),
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
