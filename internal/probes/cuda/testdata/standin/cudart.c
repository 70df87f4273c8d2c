/*
 * Stand-in libcudart.so: each runtime call goes through the stand-in driver,
 * as the real runtime does, so a probe that counted both would double count;
 * but a host-to-host copy is done here without the driver, so a probe that
 * waited for the driver to confirm a runtime call would miss it.
 */
#include <string.h>

#include "cuda.h"

/* What cudaGetLastError would return. */
__thread cudaError_t standin_last_error;

/*
 * The runtime's result for the driver's, recorded as the thread's last error
 * as the real runtime does; the driver call is therefore never a tail call.
 */
static cudaError_t result(CUresult r)
{
	if (r)
		standin_last_error = r;
	return r;
}

cudaError_t cudaMalloc(void **devPtr, size_t size)
{
	CUdeviceptr p = 0;
	CUresult r = cuMemAlloc_v2(&p, size);
	if (r == 0)
		*devPtr = (void *)p;
	return result(r);
}

cudaError_t cudaFree(void *devPtr) { return result(cuMemFree_v2((CUdeviceptr)devPtr)); }

cudaError_t cudaLaunchKernel(const void *func, dim3 grid, dim3 block, void **args, size_t shared, cudaStream_t s)
{
	return result(cuLaunchKernel((CUfunction)func, grid.x, grid.y, grid.z, block.x, block.y, block.z, shared, s, args, 0));
}

cudaError_t cudaLaunchKernel_ptsz(const void *func, dim3 grid, dim3 block, void **args, size_t shared, cudaStream_t s)
{
	return result(cuLaunchKernel_ptsz((CUfunction)func, grid.x, grid.y, grid.z, block.x, block.y, block.z, shared, s, args, 0));
}

cudaError_t cudaLaunchKernelExC(const cudaLaunchConfig_t *config, const void *func, void **args)
{
	CUlaunchConfig c = {
		.gridDimX = config->gridDim.x, .gridDimY = config->gridDim.y, .gridDimZ = config->gridDim.z,
		.blockDimX = config->blockDim.x, .blockDimY = config->blockDim.y, .blockDimZ = config->blockDim.z,
		.sharedMemBytes = config->dynamicSmemBytes, .hStream = config->stream,
	};
	return result(cuLaunchKernelEx(&c, (CUfunction)func, args, 0));
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
{
	switch (kind) {
	case cudaMemcpyHostToDevice:
		return result(cuMemcpyHtoD_v2((CUdeviceptr)dst, src, count));
	case cudaMemcpyDeviceToHost:
		return result(cuMemcpyDtoH_v2(dst, (CUdeviceptr)src, count));
	case cudaMemcpyDeviceToDevice:
		return result(cuMemcpyDtoD_v2((CUdeviceptr)dst, (CUdeviceptr)src, count));
	case cudaMemcpyHostToHost:
		memmove(dst, src, count);
		return 0;
	default:
		return result(cuMemcpy((CUdeviceptr)dst, (CUdeviceptr)src, count));
	}
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind, cudaStream_t s)
{
	switch (kind) {
	case cudaMemcpyHostToDevice:
		return result(cuMemcpyHtoDAsync_v2((CUdeviceptr)dst, src, count, s));
	case cudaMemcpyDeviceToHost:
		return result(cuMemcpyDtoHAsync_v2(dst, (CUdeviceptr)src, count, s));
	case cudaMemcpyDeviceToDevice:
		return result(cuMemcpyDtoDAsync_v2((CUdeviceptr)dst, (CUdeviceptr)src, count, s));
	default:
		return result(cuMemcpyAsync((CUdeviceptr)dst, (CUdeviceptr)src, count, s));
	}
}
