/*
 * Stand-in libamdhip64.so: the HIP runtime entry points orb8 hooks, doing no
 * GPU work. hipMemcpy goes through hipMemcpyAsync, the directional copies
 * through hipMemcpyWithStream, and hipLaunchKernel through
 * hipModuleLaunchKernel, so that a probe that counted hooked calls
 * the runtime makes itself would double count.
 */
#include "hip.h"

static uintptr_t next_ptr = 0x7e0000000000ULL;
/* Keeps the calls from being optimised away, as a real runtime's work would. */
volatile unsigned long long standin_work;
/* What hipGetLastError would return. */
__thread hipError_t standin_last_error;

/* Records the thread's last error, as the real runtime does: an inner call is never a tail call. */
static hipError_t result(hipError_t r)
{
	if (r)
		standin_last_error = r;
	return r;
}

static hipError_t alloc(void **ptr, size_t size)
{
	if (size == STANDIN_REFUSED_SIZE)
		return result(hipErrorOutOfMemory);
	*ptr = (void *)__atomic_fetch_add(&next_ptr, (size + 4095) & ~4095ULL, __ATOMIC_RELAXED);
	return 0;
}

hipError_t hipMalloc(void **ptr, size_t size) { return alloc(ptr, size); }
hipError_t hipMallocManaged(void **dev_ptr, size_t size, unsigned int flags) { return alloc(dev_ptr, size); }
hipError_t hipMallocAsync(void **dev_ptr, size_t size, hipStream_t stream) { return alloc(dev_ptr, size); }
hipError_t hipExtMallocWithFlags(void **ptr, size_t sizeBytes, unsigned int flags) { return alloc(ptr, sizeBytes); }

hipError_t hipFree(void *ptr)
{
	standin_work += (uintptr_t)ptr;
	return 0;
}

hipError_t hipFreeAsync(void *dev_ptr, hipStream_t stream)
{
	standin_work += (uintptr_t)dev_ptr;
	return 0;
}

hipError_t hipModuleLaunchKernel(hipFunction_t f, unsigned int gridDimX, unsigned int gridDimY, unsigned int gridDimZ,
				 unsigned int blockDimX, unsigned int blockDimY, unsigned int blockDimZ,
				 unsigned int sharedMemBytes, hipStream_t stream, void **kernelParams, void **extra)
{
	standin_work += gridDimX * gridDimY * gridDimZ * blockDimX * blockDimY * blockDimZ + sharedMemBytes;
	return 0;
}

hipError_t hipLaunchKernel(const void *function_address, dim3 numBlocks, dim3 dimBlocks, void **args,
			   size_t sharedMemBytes, hipStream_t stream)
{
	return result(hipModuleLaunchKernel((hipFunction_t)function_address, numBlocks.x, numBlocks.y, numBlocks.z,
					    dimBlocks.x, dimBlocks.y, dimBlocks.z, sharedMemBytes, stream, args, 0));
}

hipError_t hipExtModuleLaunchKernel(hipFunction_t f, uint32_t globalWorkSizeX, uint32_t globalWorkSizeY,
				    uint32_t globalWorkSizeZ, uint32_t localWorkSizeX, uint32_t localWorkSizeY,
				    uint32_t localWorkSizeZ, size_t sharedMemBytes, hipStream_t hStream,
				    void **kernelParams, void **extra, hipEvent_t startEvent, hipEvent_t stopEvent,
				    uint32_t flags)
{
	standin_work += globalWorkSizeX + localWorkSizeX + flags;
	return 0;
}

hipError_t hipLaunchCooperativeKernel(const void *f, dim3 gridDim, dim3 blockDimX, void **kernelParams,
				      unsigned int sharedMemBytes, hipStream_t stream)
{
	standin_work += gridDim.x + blockDimX.x + sharedMemBytes;
	return 0;
}

hipError_t hipGraphLaunch(hipGraphExec_t graphExec, hipStream_t stream)
{
	standin_work++;
	return 0;
}

hipError_t hipMemcpyAsync(void *dst, const void *src, size_t sizeBytes, hipMemcpyKind kind, hipStream_t stream)
{
	standin_work += sizeBytes + kind;
	return 0;
}

hipError_t hipMemcpy(void *dst, const void *src, size_t sizeBytes, hipMemcpyKind kind)
{
	return result(hipMemcpyAsync(dst, src, sizeBytes, kind, 0));
}

hipError_t hipMemcpyWithStream(void *dst, const void *src, size_t sizeBytes, hipMemcpyKind kind, hipStream_t stream)
{
	standin_work += sizeBytes + kind;
	return 0;
}

hipError_t hipMemcpyHtoD(hipDeviceptr_t dst, void *src, size_t sizeBytes)
{
	return result(hipMemcpyWithStream(dst, src, sizeBytes, hipMemcpyHostToDevice, 0));
}

hipError_t hipMemcpyHtoDAsync(hipDeviceptr_t dst, void *src, size_t sizeBytes, hipStream_t stream)
{
	return result(hipMemcpyWithStream(dst, src, sizeBytes, hipMemcpyHostToDevice, stream));
}

hipError_t hipMemcpyDtoH(void *dst, hipDeviceptr_t src, size_t sizeBytes)
{
	return result(hipMemcpyWithStream(dst, src, sizeBytes, hipMemcpyDeviceToHost, 0));
}

hipError_t hipMemcpyDtoHAsync(void *dst, hipDeviceptr_t src, size_t sizeBytes, hipStream_t stream)
{
	return result(hipMemcpyWithStream(dst, src, sizeBytes, hipMemcpyDeviceToHost, stream));
}

hipError_t hipMemcpyDtoD(hipDeviceptr_t dst, hipDeviceptr_t src, size_t sizeBytes)
{
	return result(hipMemcpyWithStream(dst, src, sizeBytes, hipMemcpyDeviceToDevice, 0));
}

hipError_t hipMemcpyDtoDAsync(hipDeviceptr_t dst, hipDeviceptr_t src, size_t sizeBytes, hipStream_t stream)
{
	return result(hipMemcpyWithStream(dst, src, sizeBytes, hipMemcpyDeviceToDevice, stream));
}
