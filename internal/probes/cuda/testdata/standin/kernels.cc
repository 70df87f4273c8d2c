/*
 * kernels DIR: a CUDA application with named kernels, as nvcc would build
 * one: each __global__ function has a host-side function of the same
 * (mangled) name, whose address the application gives cudaLaunchKernel.
 * It loads the stand-in runtime and driver from DIR with dlopen, says
 * "loaded", waits for a line on stdin, launches:
 *   demo::scale(float*, int)  5 x cudaLaunchKernel, grid 4x2x1, block 128x1x1, 64 B shared, stream 0x10
 *   demo::shift(float*, int)  3 x cudaLaunchKernel, grid 8x1x1, block 32x4x1, default stream
 *   demo::fill(float*)        2 x cudaLaunchKernelExC, grid 3x3x3, block 64x1x1, 128 B shared, stream 0x20
 *   demo::gemm()              2 x cuLaunchKernel of cuModuleGetFunction's "_ZN4demo4gemmEv",
 *                             grid 16x1x1, block 256x1x1, 512 B shared, stream 0x30
 *   demo::reduce()            4 x cuLaunchKernelEx of cuKernelGetFunction(cuLibraryGetKernel("_ZN4demo6reduceEv")),
 *                             grid 2x1x1, block 1024x1x1, stream 0x40
 * then says "done" and waits for stdin to close.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

extern "C" {
#include "cuda.h"
}

namespace demo {
/* The host-side functions of the kernels: never called, only launched. */
__attribute__((noinline)) void scale(float *x, int n)
{
	for (int i = 0; i < n; i++)
		x[i] *= 2;
}

__attribute__((noinline)) void shift(float *x, int n)
{
	for (int i = 0; i < n; i++)
		x[i] += 1;
}

__attribute__((noinline)) void fill(float *x) { x[0] = 3; }
} // namespace demo

static void *sym(void *lib, const char *name)
{
	void *p = dlsym(lib, name);
	if (!p) {
		fprintf(stderr, "dlsym %s: %s\n", name, dlerror());
		exit(2);
	}
	return p;
}

static void *open_lib(const char *dir, const char *name)
{
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", dir, name);
	void *lib = dlopen(path, RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		exit(2);
	}
	return lib;
}

static void check(int r, const char *what)
{
	if (r) {
		fprintf(stderr, "%s: %d\n", what, r);
		exit(3);
	}
}

int main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return 2;
	}
	void *drv = open_lib(argv[1], "libcuda.so");
	void *rt = open_lib(argv[1], "libcudart.so");
	auto launch = (decltype(&cudaLaunchKernel))sym(rt, "cudaLaunchKernel");
	auto launch_ex = (decltype(&cudaLaunchKernelExC))sym(rt, "cudaLaunchKernelExC");
	auto cu_launch = (decltype(&cuLaunchKernel))sym(drv, "cuLaunchKernel");
	auto cu_launch_ex = (decltype(&cuLaunchKernelEx))sym(drv, "cuLaunchKernelEx");
	auto get_function = (decltype(&cuModuleGetFunction))sym(drv, "cuModuleGetFunction");
	auto get_kernel = (decltype(&cuLibraryGetKernel))sym(drv, "cuLibraryGetKernel");
	auto kernel_function = (decltype(&cuKernelGetFunction))sym(drv, "cuKernelGetFunction");
	printf("loaded\n");
	fflush(stdout);

	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	for (int i = 0; i < 5; i++)
		check(launch((const void *)&demo::scale, dim3{4, 2, 1}, dim3{128, 1, 1}, NULL, 64, (cudaStream_t)0x10), "scale");
	for (int i = 0; i < 3; i++)
		check(launch((const void *)&demo::shift, dim3{8, 1, 1}, dim3{32, 4, 1}, NULL, 0, NULL), "shift");
	cudaLaunchConfig_t rc;
	memset(&rc, 0, sizeof(rc));
	rc.gridDim = dim3{3, 3, 3};
	rc.blockDim = dim3{64, 1, 1};
	rc.dynamicSmemBytes = 128;
	rc.stream = (cudaStream_t)0x20;
	for (int i = 0; i < 2; i++)
		check(launch_ex(&rc, (const void *)&demo::fill, NULL), "fill");

	CUfunction gemm;
	check(get_function(&gemm, NULL, "_ZN4demo4gemmEv"), "cuModuleGetFunction");
	for (int i = 0; i < 2; i++)
		check(cu_launch(gemm, 16, 1, 1, 256, 1, 1, 512, (CUstream)0x30, NULL, NULL), "gemm");
	CUkernel reduce_kernel;
	CUfunction reduce;
	check(get_kernel(&reduce_kernel, NULL, "_ZN4demo6reduceEv"), "cuLibraryGetKernel");
	check(kernel_function(&reduce, reduce_kernel), "cuKernelGetFunction");
	CUlaunchConfig dc;
	memset(&dc, 0, sizeof(dc));
	dc.gridDimX = 2, dc.gridDimY = 1, dc.gridDimZ = 1;
	dc.blockDimX = 1024, dc.blockDimY = 1, dc.blockDimZ = 1;
	dc.hStream = (CUstream)0x40;
	for (int i = 0; i < 4; i++)
		check(cu_launch_ex(&dc, reduce, NULL, NULL), "reduce");
	printf("done\n");
	fflush(stdout);
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}
