/*
 * host LIB N: a host program that is no CUDA application. It loads LIB, a
 * library whose name is not a CUDA library's, and calls its cuLaunchKernel
 * and cuMemAlloc_v2 N times each, then says "done". Should the CUDA probe
 * have put uprobes into LIB, these calls are counted.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>

#include "standin/cuda.h"

int main(int argc, char **argv)
{
	if (argc != 3) {
		fprintf(stderr, "usage: %s LIB N\n", argv[0]);
		return 2;
	}
	void *lib = dlopen(argv[1], RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 1;
	}
	__typeof__(cuLaunchKernel) *launch = dlsym(lib, "cuLaunchKernel");
	__typeof__(cuMemAlloc_v2) *alloc = dlsym(lib, "cuMemAlloc_v2");
	if (!launch || !alloc) {
		fprintf(stderr, "dlsym: %s\n", dlerror());
		return 1;
	}
	for (long i = 0, n = atol(argv[2]); i < n; i++) {
		CUdeviceptr p;
		if (launch(NULL, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL) || alloc(&p, 4096))
			return 3;
	}
	printf("done\n");
	return 0;
}
