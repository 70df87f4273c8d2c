/* Stand-in libcuda.so: the driver API entry points orb8 hooks, doing no GPU work. */
#include "cuda.h"

static CUdeviceptr next_ptr = 0x7f0000000000ULL;
/* Keeps the calls from being optimised away, as a real driver's work would. */
volatile unsigned long long standin_work;

CUresult cuMemAlloc_v2(CUdeviceptr *dptr, size_t bytesize)
{
	if (bytesize == STANDIN_REFUSED_SIZE)
		return CUDA_ERROR_OUT_OF_MEMORY;
	*dptr = __atomic_fetch_add(&next_ptr, (bytesize + 4095) & ~4095ULL, __ATOMIC_RELAXED);
	return 0;
}

CUresult cuMemFree_v2(CUdeviceptr dptr)
{
	standin_work += dptr;
	return 0;
}

CUresult cuLaunchKernel(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
			unsigned int by, unsigned int bz, unsigned int shared, CUstream s, void **params, void **extra)
{
	standin_work += gx * gy * gz * bx * by * bz + shared;
	return 0;
}

CUresult cuLaunchKernel_ptsz(CUfunction f, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx,
			     unsigned int by, unsigned int bz, unsigned int shared, CUstream s, void **params, void **extra)
{
	return cuLaunchKernel(f, gx, gy, gz, bx, by, bz, shared, s, params, extra);
}

CUresult cuLaunchKernelEx(const CUlaunchConfig *config, CUfunction f, void **params, void **extra)
{
	standin_work++;
	return 0;
}

/* Handles the stand-in hands out: distinct, never dereferenced. */
static unsigned long long next_handle = 0x5000;

static void *handle(void)
{
	return (void *)(__atomic_add_fetch(&next_handle, 16, __ATOMIC_RELAXED));
}

CUresult cuModuleGetFunction(CUfunction *hfunc, CUmodule hmod, const char *name)
{
	standin_work += name[0];
	*hfunc = handle();
	return 0;
}

CUresult cuLibraryGetKernel(CUkernel *pKernel, CUlibrary library, const char *name)
{
	standin_work += name[0];
	*pKernel = handle();
	return 0;
}

CUresult cuKernelGetFunction(CUfunction *pFunc, CUkernel kernel)
{
	*pFunc = (CUfunction)((char *)kernel + 8);
	return 0;
}

static CUresult copy(size_t n)
{
	standin_work += n;
	return 0;
}

CUresult cuMemcpyHtoD_v2(CUdeviceptr dst, const void *src, size_t n) { return copy(n); }
CUresult cuMemcpyDtoH_v2(void *dst, CUdeviceptr src, size_t n) { return copy(n); }
CUresult cuMemcpyDtoD_v2(CUdeviceptr dst, CUdeviceptr src, size_t n) { return copy(n); }
CUresult cuMemcpy(CUdeviceptr dst, CUdeviceptr src, size_t n) { return copy(n); }
CUresult cuMemcpyHtoDAsync_v2(CUdeviceptr dst, const void *src, size_t n, CUstream s) { return copy(n); }
CUresult cuMemcpyDtoHAsync_v2(void *dst, CUdeviceptr src, size_t n, CUstream s) { return copy(n); }
CUresult cuMemcpyDtoDAsync_v2(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) { return copy(n); }
CUresult cuMemcpyAsync(CUdeviceptr dst, CUdeviceptr src, size_t n, CUstream s) { return copy(n); }
