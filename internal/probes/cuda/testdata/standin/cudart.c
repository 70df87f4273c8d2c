/*
 * Stand-in libcudart.so: each runtime call goes through the stand-in driver,
 * as the real runtime does, so a probe that counted both would double count.
 */
#include "cuda.h"

cudaError_t cudaMalloc(void **devPtr, size_t size)
{
	CUdeviceptr p = 0;
	CUresult r = cuMemAlloc_v2(&p, size);
	if (r == 0)
		*devPtr = (void *)p;
	return r;
}

cudaError_t cudaFree(void *devPtr) { return cuMemFree_v2((CUdeviceptr)devPtr); }

cudaError_t cudaLaunchKernel(const void *func, dim3 grid, dim3 block, void **args, size_t shared, cudaStream_t s)
{
	return cuLaunchKernel((CUfunction)func, grid.x, grid.y, grid.z, block.x, block.y, block.z, shared, s, args, 0);
}

cudaError_t cudaLaunchKernel_ptsz(const void *func, dim3 grid, dim3 block, void **args, size_t shared, cudaStream_t s)
{
	return cuLaunchKernel_ptsz((CUfunction)func, grid.x, grid.y, grid.z, block.x, block.y, block.z, shared, s, args, 0);
}

cudaError_t cudaMemcpy(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind)
{
	switch (kind) {
	case cudaMemcpyHostToDevice:
		return cuMemcpyHtoD_v2((CUdeviceptr)dst, src, count);
	case cudaMemcpyDeviceToHost:
		return cuMemcpyDtoH_v2(dst, (CUdeviceptr)src, count);
	case cudaMemcpyDeviceToDevice:
		return cuMemcpyDtoD_v2((CUdeviceptr)dst, (CUdeviceptr)src, count);
	default:
		return cuMemcpy((CUdeviceptr)dst, (CUdeviceptr)src, count);
	}
}

cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t count, enum cudaMemcpyKind kind, cudaStream_t s)
{
	switch (kind) {
	case cudaMemcpyHostToDevice:
		return cuMemcpyHtoDAsync_v2((CUdeviceptr)dst, src, count, s);
	case cudaMemcpyDeviceToHost:
		return cuMemcpyDtoHAsync_v2(dst, (CUdeviceptr)src, count, s);
	case cudaMemcpyDeviceToDevice:
		return cuMemcpyDtoDAsync_v2((CUdeviceptr)dst, (CUdeviceptr)src, count, s);
	default:
		return cuMemcpyAsync((CUdeviceptr)dst, (CUdeviceptr)src, count, s);
	}
}
