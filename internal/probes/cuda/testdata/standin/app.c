/*
 * A CUDA application for the stand-in libraries. It loads them with dlopen
 * (after the probe started), says "loaded", then:
 *   app DIR calls THREADS  waits for a line on stdin, makes the known set of
 *                          calls below on THREADS threads, says "done" and
 *                          waits for stdin to close;
 *   app DIR gemm THREADS   the same with the known GEMM calls, after loading
 *                          the stand-in cuBLAS and cuBLASLt too;
 *   app DIR bench N        for each line on stdin, times N calls and prints
 *                          ns=<per call>: "runtime" cudaLaunchKernel, "driver"
 *                          cuLaunchKernel, "alloc" cudaMalloc then cudaFree;
 *   app DIR loop MS        for each line "WORK_NS EVERY" on stdin, runs a
 *                          launch-bound loop for MS milliseconds, each step
 *                          WORK_NS of host work then one cudaLaunchKernel, and
 *                          every EVERY-th step (0: none) a cudaMalloc of 4 KiB
 *                          that the next such step frees; prints
 *                          launches=<made> mallocs=<made> ns=<per step>.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cuda.h"

#define MiB (1UL << 20)

static void *sym(void *lib, const char *name)
{
	void *p = dlsym(lib, name);
	if (!p) {
		fprintf(stderr, "dlsym %s: %s\n", name, dlerror());
		exit(2);
	}
	return p;
}

static struct {
	__typeof__(cudaMalloc) *malloc;
	__typeof__(cudaFree) *free;
	__typeof__(cudaLaunchKernel) *launch;
	__typeof__(cudaLaunchKernel_ptsz) *launch_ptsz;
	__typeof__(cudaMemcpy) *memcpy;
	__typeof__(cudaMemcpyAsync) *memcpy_async;
} rt;

static struct {
	__typeof__(cuMemAlloc_v2) *alloc;
	__typeof__(cuMemFree_v2) *free;
	__typeof__(cuLaunchKernel) *launch;
	__typeof__(cuLaunchKernelEx) *launch_ex;
	__typeof__(cuMemcpyHtoD_v2) *htod;
	__typeof__(cuMemcpyDtoHAsync_v2) *dtoh_async;
	__typeof__(cuMemcpyDtoD_v2) *dtod;
	__typeof__(cuMemcpyAsync) *copy_async;
	__typeof__(cuModuleGetFunction) *get_function;
} drv;

static struct {
	__typeof__(cublasSgemm_v2) *sgemm;
	__typeof__(cublasZgemm_v2) *zgemm;
	__typeof__(cublasGemmEx) *gemm_ex;
	__typeof__(cublasSgemmStridedBatched) *sgemm_strided;
	__typeof__(cublasGemmStridedBatchedEx) *gemm_strided_ex;
	__typeof__(cublasLtMatmul) *lt_matmul;
} blas;

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

static void load_blas(const char *dir)
{
	void *lt = open_lib(dir, "libcublasLt.so"), *cublas = open_lib(dir, "libcublas.so");
	blas.sgemm = sym(cublas, "cublasSgemm_v2");
	blas.zgemm = sym(cublas, "cublasZgemm_v2");
	blas.gemm_ex = sym(cublas, "cublasGemmEx");
	blas.sgemm_strided = sym(cublas, "cublasSgemmStridedBatched");
	blas.gemm_strided_ex = sym(cublas, "cublasGemmStridedBatchedEx");
	blas.lt_matmul = sym(lt, "cublasLtMatmul");
}

static void load(const char *dir)
{
	void *cudart = open_lib(dir, "libcudart.so"), *cuda = open_lib(dir, "libcuda.so");
	rt.malloc = sym(cudart, "cudaMalloc");
	rt.free = sym(cudart, "cudaFree");
	rt.launch = sym(cudart, "cudaLaunchKernel");
	rt.launch_ptsz = sym(cudart, "cudaLaunchKernel_ptsz");
	rt.memcpy = sym(cudart, "cudaMemcpy");
	rt.memcpy_async = sym(cudart, "cudaMemcpyAsync");
	drv.alloc = sym(cuda, "cuMemAlloc_v2");
	drv.free = sym(cuda, "cuMemFree_v2");
	drv.launch = sym(cuda, "cuLaunchKernel");
	drv.launch_ex = sym(cuda, "cuLaunchKernelEx");
	drv.htod = sym(cuda, "cuMemcpyHtoD_v2");
	drv.dtoh_async = sym(cuda, "cuMemcpyDtoHAsync_v2");
	drv.dtod = sym(cuda, "cuMemcpyDtoD_v2");
	drv.copy_async = sym(cuda, "cuMemcpyAsync");
	drv.get_function = sym(cuda, "cuModuleGetFunction");
}

static void check(int r, const char *what)
{
	if (r) {
		fprintf(stderr, "%s failed: %d\n", what, r);
		exit(3);
	}
}

/*
 * A direct driver copy from a frame deeper than the caller's runtime calls
 * (volatile: not a tail call).
 */
static __attribute__((noinline)) int driver_copy_below(CUdeviceptr p, size_t n)
{
	volatile int r = drv.copy_async(p, p, n, NULL);
	return r;
}

/*
 * Per thread: malloc 1+2+4 MiB (runtime) + 8+16 MiB (driver), free 2 MiB
 * (runtime) + 8 MiB (driver): 21 MiB outstanding; 11 launches; memcpy
 * h2d 1510, d2h 2620, d2d 3030, other 9040 bytes. Failed allocations count
 * nothing.
 */
static void *known_calls(void *unused)
{
	void *a, *b, *c, *refused;
	CUdeviceptr d, e;
	dim3 one = {1, 1, 1};
	check(rt.malloc(&a, 1 * MiB), "cudaMalloc");
	check(rt.malloc(&b, 2 * MiB), "cudaMalloc");
	check(rt.malloc(&c, 4 * MiB), "cudaMalloc");
	if (rt.malloc(&refused, STANDIN_REFUSED_SIZE) != CUDA_ERROR_OUT_OF_MEMORY)
		check(1, "refused cudaMalloc");
	check(rt.free(b), "cudaFree");
	check(rt.free(NULL), "cudaFree(NULL)");
	check(drv.alloc(&d, 8 * MiB), "cuMemAlloc_v2");
	check(drv.free(d), "cuMemFree_v2");
	check(drv.alloc(&e, 16 * MiB), "cuMemAlloc_v2");

	for (int i = 0; i < 5; i++)
		check(rt.launch(rt.launch, one, one, NULL, 0, NULL), "cudaLaunchKernel");
	for (int i = 0; i < 2; i++)
		check(rt.launch_ptsz(rt.launch, one, one, NULL, 0, NULL), "cudaLaunchKernel_ptsz");
	for (int i = 0; i < 3; i++)
		check(drv.launch(NULL, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL), "cuLaunchKernel");
	check(drv.launch_ex(NULL, NULL, NULL, NULL), "cuLaunchKernelEx");

	char host[8192];
	check(rt.memcpy(a, host, 1000, cudaMemcpyHostToDevice), "cudaMemcpy h2d");
	check(rt.memcpy(host, a, 2000, cudaMemcpyDeviceToHost), "cudaMemcpy d2h");
	check(rt.memcpy(c, a, 3000, cudaMemcpyDeviceToDevice), "cudaMemcpy d2d");
	check(rt.memcpy(c, a, 4000, cudaMemcpyDefault), "cudaMemcpy default");
	check(rt.memcpy_async(a, host, 500, cudaMemcpyHostToDevice, NULL), "cudaMemcpyAsync h2d");
	check(rt.memcpy_async(host, a, 600, cudaMemcpyDeviceToHost, NULL), "cudaMemcpyAsync d2h");
	check(drv.htod(e, host, 10), "cuMemcpyHtoD_v2");
	check(drv.dtoh_async(host, e, 20, NULL), "cuMemcpyDtoHAsync_v2");
	check(drv.dtod(e, e, 30), "cuMemcpyDtoD_v2");
	/* A runtime copy that never reaches the driver, then a direct driver copy of
	 * the same kind from a deeper frame: both counted. */
	check(rt.memcpy(host, host, 5000, cudaMemcpyHostToHost), "cudaMemcpy h2h");
	check(driver_copy_below(e, 40), "cuMemcpyAsync");
	return NULL;
}

/*
 * Per thread: 5 cuBLAS GEMMs of 48 + 48 + 2000 + 80 + 384 = 2,560 FLOPs
 * (2mnk, 8mnk for complex, times the batch), each computed by cuBLASLt, and
 * one direct cublasLtMatmul (no m, n, k in its arguments): 6 GEMM calls, 6
 * kernel launches.
 */
static void *gemm_calls(void *unused)
{
	float f[64] = {0};
	cuDoubleComplex z[8] = {0};
	check(blas.sgemm(0, 0, 0, 2, 3, 4, f, f, 2, f, 4, f, f, 2), "cublasSgemm_v2");
	check(blas.zgemm(0, 0, 0, 1, 2, 3, z, z, 1, z, 3, z, z, 1), "cublasZgemm_v2");
	check(blas.gemm_ex(0, 0, 0, 10, 10, 10, f, f, 0, 10, f, 0, 10, f, f, 0, 10, 0, 0), "cublasGemmEx");
	check(blas.sgemm_strided(0, 0, 0, 2, 2, 2, f, f, 2, 4, f, 2, 4, f, f, 2, 4, 5), "cublasSgemmStridedBatched");
	check(blas.gemm_strided_ex(0, 0, 0, 4, 4, 4, f, f, 0, 4, 16, f, 0, 4, 16, f, f, 0, 4, 16, 3, 0, 0),
	      "cublasGemmStridedBatchedEx");
	check(blas.lt_matmul(0, 0, f, f, 0, f, 0, f, f, 0, f, 0, 0, 0, 0, 0), "cublasLtMatmul");
	return NULL;
}

static double ns_per_call(long n, int (*call)(void))
{
	struct timespec t0, t1;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (long i = 0; i < n; i++)
		call();
	clock_gettime(CLOCK_MONOTONIC, &t1);
	return ((t1.tv_sec - t0.tv_sec) * 1e9 + (t1.tv_nsec - t0.tv_nsec)) / n;
}

static int runtime_launch(void)
{
	dim3 one = {1, 1, 1};
	return rt.launch(rt.launch, one, one, NULL, 0, NULL);
}

static int driver_launch(void) { return drv.launch(NULL, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL); }

/* A runtime launch of a kernel no launch before named: a made-up host function, as a hostile process would pass. */
static int distinct_launch(void)
{
	static uintptr_t next = 0x10000;
	dim3 one = {1, 1, 1};
	next += 16;
	return rt.launch((const void *)next, one, one, NULL, 0, NULL);
}

/* A kernel looked up by name: each lookup a new CUfunction. */
static int get_function(void)
{
	CUfunction f;
	return drv.get_function(&f, NULL, "_ZN4demo4gemmEv");
}

static int alloc_free(void)
{
	void *p;
	return rt.malloc(&p, 4096) || rt.free(p);
}

static int bench(long n)
{
	char line[64];
	while (fgets(line, sizeof(line), stdin)) {
		int (*call)(void) = !strcmp(line, "runtime\n") ? runtime_launch
				    : !strcmp(line, "driver\n")  ? driver_launch
				    : !strcmp(line, "alloc\n")   ? alloc_free
				    : !strcmp(line, "distinct\n") ? distinct_launch
				    : !strcmp(line, "name\n")     ? get_function
								 : NULL;
		if (!call) {
			fprintf(stderr, "unknown call %s", line);
			return 1;
		}
		printf("ns=%.1f\n", ns_per_call(n, call));
	}
	return 0;
}

static long now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return t.tv_sec * 1000000000L + t.tv_nsec;
}

/* What an eager framework does per kernel: host work, then the launch. */
static int loop(long ms)
{
	char line[64];
	while (fgets(line, sizeof(line), stdin)) {
		long work = 0, every = 0, launches = 0, mallocs = 0;
		void *held = NULL;
		if (sscanf(line, "%ld %ld", &work, &every) != 2) {
			fprintf(stderr, "loop wants WORK_NS EVERY, got %s", line);
			return 1;
		}
		long start = now_ns(), end = start + ms * 1000000L, t = start;
		while (t < end) {
			long until = t + work;
			while ((t = now_ns()) < until)
				;
			check(runtime_launch(), "cudaLaunchKernel");
			launches++;
			if (every && launches % every == 0) {
				check(rt.free(held), "cudaFree");
				check(rt.malloc(&held, 4096), "cudaMalloc");
				mallocs++;
			}
			t = now_ns();
		}
		check(rt.free(held), "cudaFree");
		printf("launches=%ld mallocs=%ld ns=%.1f\n", launches, mallocs, (double)(t - start) / launches);
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc != 4 || (strcmp(argv[2], "calls") && strcmp(argv[2], "gemm") && strcmp(argv[2], "bench") &&
			  strcmp(argv[2], "loop"))) {
		fprintf(stderr, "usage: %s DIR calls|gemm THREADS | DIR bench N | DIR loop MS\n", argv[0]);
		return 1;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	load(argv[1]);
	int gemm = !strcmp(argv[2], "gemm");
	if (gemm)
		load_blas(argv[1]);
	printf("loaded\n");
	long n = atol(argv[3]);
	if (!strcmp(argv[2], "bench"))
		return bench(n);
	if (!strcmp(argv[2], "loop"))
		return loop(n);
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	pthread_t threads[64];
	for (long i = 0; i < n && i < 64; i++)
		pthread_create(&threads[i], NULL, gemm ? gemm_calls : known_calls, NULL);
	for (long i = 0; i < n && i < 64; i++)
		pthread_join(threads[i], NULL);
	printf("done\n");
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}
