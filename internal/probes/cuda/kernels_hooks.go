package cuda

import "github.com/cilium/ebpf"

// configLaunches are launches whose dimensions, shared memory and stream
// come in a launch config struct, the function second: cudaLaunchKernelExC
// (const cudaLaunchConfig_t *, const void *func, void **args) and
// cuLaunchKernelEx (const CUlaunchConfig *, CUfunction, ...).
func configLaunches(symbols ...string) []hook {
	out := hooks(cudaOpOP_LAUNCH, false, symbols...)
	for i := range out {
		out[i].config = true
	}
	return out
}

// nameHooks give driver launches their kernels' names: each writes a
// CUfunction (or CUkernel) handle through its first argument, named by
// its third (cuModuleGetFunction, cuLibraryGetKernel) or by the CUkernel
// in its second (cuKernelGetFunction). Called once per kernel and module,
// not per launch: a return probe is affordable.
var nameHooks = []hook{
	{symbol: "cuModuleGetFunction", op: cudaOp(cudaNameOpOP_MODULE_FUNCTION), withReturn: true},
	{symbol: "cuLibraryGetKernel", op: cudaOp(cudaNameOpOP_MODULE_FUNCTION), withReturn: true},
	{symbol: "cuKernelGetFunction", op: cudaOp(cudaNameOpOP_KERNEL_FUNCTION), withReturn: true},
}

// of returns the programs of a hook: its entry program, and its return
// program for the hooks with one.
func (p programs) of(h hook) (entry, exit *ebpf.Program) {
	switch {
	case !h.withReturn:
		return p.entry, nil
	case h.op == cudaOp(cudaNameOpOP_MODULE_FUNCTION) || h.op == cudaOp(cudaNameOpOP_KERNEL_FUNCTION):
		return p.nameEnter, p.nameReturn
	}
	return p.allocEnter, p.allocReturn
}
