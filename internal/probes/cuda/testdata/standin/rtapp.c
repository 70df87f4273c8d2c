/*
 * An application of the stand-in HIP (libamdhip64) or Neuron (libnrt)
 * runtime. It loads the library with dlopen (after the probe started), says
 * "loaded", waits for a line on stdin, makes the known calls below, says
 * "done" and waits for stdin to close:
 *   rtapp DIR hip|nrt calls|variants
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hip.h"
#include "nrt.h"

#define MiB (1UL << 20)

static void *lib;

static void *sym(const char *name)
{
	void *p = dlsym(lib, name);
	if (!p) {
		fprintf(stderr, "dlsym %s: %s\n", name, dlerror());
		exit(2);
	}
	return p;
}

static void check(int r, const char *what)
{
	if (r) {
		fprintf(stderr, "%s failed: %d\n", what, r);
		exit(3);
	}
}

/* 3 x hipMalloc 1 MiB, 1 hipFree, 9 hipLaunchKernel, 2 hipMemcpy of 4096 bytes host-to-device. */
static void hip_calls(void)
{
	__typeof__(hipMalloc) *malloc_ = sym("hipMalloc");
	__typeof__(hipFree) *free_ = sym("hipFree");
	__typeof__(hipLaunchKernel) *launch = sym("hipLaunchKernel");
	__typeof__(hipMemcpy) *memcpy_ = sym("hipMemcpy");
	void *p[3];
	dim3 one = {1, 1, 1};
	char host[4096] = {0};
	for (int i = 0; i < 3; i++)
		check(malloc_(&p[i], 1 * MiB), "hipMalloc");
	check(free_(p[0]), "hipFree");
	for (int i = 0; i < 9; i++)
		check(launch(launch, one, one, NULL, 0, NULL), "hipLaunchKernel");
	for (int i = 0; i < 2; i++)
		check(memcpy_(p[1], host, sizeof(host), hipMemcpyHostToDevice), "hipMemcpy");
}

/*
 * The other hooked entry points: malloc 1 (async) + 2 (managed) + 1 (ext,
 * with flags) MiB, free 1 MiB (async), a refused hipMalloc and
 * hipFree(NULL) adding nothing; 4 launches (module, ext module, graph,
 * cooperative); copies d2h 100 (async), d2d 300,
 * other 50, then with stream d2h 200 and by direction h2d 400 + 20, d2h
 * 40 + 4, d2d 500 + 5 (each reaching hipMemcpyWithStream inside the runtime).
 */
static void hip_variants(void)
{
	void *a, *m, *x, *refused;
	check(((__typeof__(hipMallocAsync) *)sym("hipMallocAsync"))(&a, 1 * MiB, NULL), "hipMallocAsync");
	check(((__typeof__(hipMallocManaged) *)sym("hipMallocManaged"))(&m, 2 * MiB, 1), "hipMallocManaged");
	check(((__typeof__(hipExtMallocWithFlags) *)sym("hipExtMallocWithFlags"))(&x, 1 * MiB, 0), "hipExtMallocWithFlags");
	if (((__typeof__(hipMalloc) *)sym("hipMalloc"))(&refused, STANDIN_REFUSED_SIZE) != hipErrorOutOfMemory)
		check(1, "refused hipMalloc");
	check(((__typeof__(hipFreeAsync) *)sym("hipFreeAsync"))(a, NULL), "hipFreeAsync");
	check(((__typeof__(hipFree) *)sym("hipFree"))(NULL), "hipFree(NULL)");
	check(((__typeof__(hipModuleLaunchKernel) *)sym("hipModuleLaunchKernel"))(NULL, 1, 1, 1, 1, 1, 1, 0, NULL, NULL, NULL),
	      "hipModuleLaunchKernel");
	check(((__typeof__(hipExtModuleLaunchKernel) *)sym("hipExtModuleLaunchKernel"))(NULL, 1, 1, 1, 1, 1, 1, 0, NULL, NULL,
											 NULL, NULL, NULL, 0),
	      "hipExtModuleLaunchKernel");
	check(((__typeof__(hipGraphLaunch) *)sym("hipGraphLaunch"))(NULL, NULL), "hipGraphLaunch");
	dim3 one = {1, 1, 1};
	check(((__typeof__(hipLaunchCooperativeKernel) *)sym("hipLaunchCooperativeKernel"))(NULL, one, one, NULL, 0, NULL),
	      "hipLaunchCooperativeKernel");
	char host[512];
	__typeof__(hipMemcpy) *memcpy_ = sym("hipMemcpy");
	check(((__typeof__(hipMemcpyAsync) *)sym("hipMemcpyAsync"))(host, m, 100, hipMemcpyDeviceToHost, NULL), "hipMemcpyAsync");
	check(memcpy_(m, m, 300, hipMemcpyDeviceToDevice), "hipMemcpy d2d");
	check(memcpy_(m, host, 50, hipMemcpyDefault), "hipMemcpy default");
	check(((__typeof__(hipMemcpyWithStream) *)sym("hipMemcpyWithStream"))(host, m, 200, hipMemcpyDeviceToHost, NULL),
	      "hipMemcpyWithStream");
	check(((__typeof__(hipMemcpyHtoD) *)sym("hipMemcpyHtoD"))(m, host, 400), "hipMemcpyHtoD");
	check(((__typeof__(hipMemcpyHtoDAsync) *)sym("hipMemcpyHtoDAsync"))(m, host, 20, NULL), "hipMemcpyHtoDAsync");
	check(((__typeof__(hipMemcpyDtoH) *)sym("hipMemcpyDtoH"))(host, m, 40), "hipMemcpyDtoH");
	check(((__typeof__(hipMemcpyDtoHAsync) *)sym("hipMemcpyDtoHAsync"))(host, m, 4, NULL), "hipMemcpyDtoHAsync");
	check(((__typeof__(hipMemcpyDtoD) *)sym("hipMemcpyDtoD"))(m, m, 500), "hipMemcpyDtoD");
	check(((__typeof__(hipMemcpyDtoDAsync) *)sym("hipMemcpyDtoDAsync"))(m, m, 5, NULL), "hipMemcpyDtoDAsync");
}

static nrt_model_t *load_model(void)
{
	nrt_model_t *model;
	char neff[64] = {0};
	check(((__typeof__(nrt_load) *)sym("nrt_load"))(neff, sizeof(neff), -1, -1, &model), "nrt_load");
	return model;
}

/* 3 x nrt_tensor_allocate 1 MiB, 1 nrt_tensor_free, 7 nrt_execute. */
static void nrt_calls(void)
{
	__typeof__(nrt_tensor_allocate) *allocate = sym("nrt_tensor_allocate");
	__typeof__(nrt_execute) *execute = sym("nrt_execute");
	nrt_model_t *model = load_model();
	nrt_tensor_t *t[3];
	for (int i = 0; i < 3; i++)
		check(allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, 1 * MiB, "t", &t[i]), "nrt_tensor_allocate");
	((__typeof__(nrt_tensor_free) *)sym("nrt_tensor_free"))(&t[0]);
	for (int i = 0; i < 7; i++)
		check(execute(model, NULL, NULL), "nrt_execute");
}

/*
 * Host and virtual tensors (no device memory) and a refused allocation add
 * nothing; 2 device tensors of 1 MiB, one freed; nrt_execute_repeat of 5;
 * 2 models loaded (and a refused load) and one with collectives (loaded
 * inside by nrt_load: counted once), one unloaded.
 */
static void nrt_variants(void)
{
	__typeof__(nrt_tensor_allocate) *allocate = sym("nrt_tensor_allocate");
	__typeof__(nrt_tensor_free) *free_ = sym("nrt_tensor_free");
	nrt_model_t *model = load_model(), *kept = load_model(), *refused_model = (nrt_model_t *)1;
	if (((__typeof__(nrt_load) *)sym("nrt_load"))(NULL, STANDIN_REFUSED_SIZE, -1, -1, &refused_model) == NRT_SUCCESS)
		check(1, "refused nrt_load");
	nrt_model_t *collective;
	char neff[64] = {0};
	check(((__typeof__(nrt_load_collectives) *)sym("nrt_load_collectives"))(neff, sizeof(neff), 0, 1, 0, 2, &collective),
	      "nrt_load_collectives");
	(void)kept;
	nrt_tensor_t *host, *virt, *refused, *d[2];
	check(allocate(NRT_TENSOR_PLACEMENT_HOST, -1, 1 * MiB, "host", &host), "nrt_tensor_allocate host");
	check(allocate(NRT_TENSOR_PLACEMENT_VIRTUAL, 0, 1 * MiB, "virtual", &virt), "nrt_tensor_allocate virtual");
	if (allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, STANDIN_REFUSED_SIZE, "refused", &refused) == NRT_SUCCESS)
		check(1, "refused nrt_tensor_allocate");
	for (int i = 0; i < 2; i++)
		check(allocate(NRT_TENSOR_PLACEMENT_DEVICE, 0, 1 * MiB, "d", &d[i]), "nrt_tensor_allocate");
	free_(&d[0]);
	free_(&host);
	check(((__typeof__(nrt_execute_repeat) *)sym("nrt_execute_repeat"))(model, NULL, NULL, 5), "nrt_execute_repeat");
	check(((__typeof__(nrt_unload) *)sym("nrt_unload"))(model), "nrt_unload");
}

int main(int argc, char **argv)
{
	if (argc != 4 || (strcmp(argv[2], "hip") && strcmp(argv[2], "nrt")) ||
	    (strcmp(argv[3], "calls") && strcmp(argv[3], "variants"))) {
		fprintf(stderr, "usage: %s DIR hip|nrt calls|variants\n", argv[0]);
		return 1;
	}
	setvbuf(stdout, NULL, _IONBF, 0);
	int hip = !strcmp(argv[2], "hip"), calls = !strcmp(argv[3], "calls");
	char path[4096];
	snprintf(path, sizeof(path), "%s/%s", argv[1], hip ? "libamdhip64.so" : "libnrt.so");
	lib = dlopen(path, RTLD_NOW);
	if (!lib) {
		fprintf(stderr, "dlopen: %s\n", dlerror());
		return 2;
	}
	printf("loaded\n");
	char line[64];
	if (!fgets(line, sizeof(line), stdin))
		return 1;
	if (hip)
		calls ? hip_calls() : hip_variants();
	else
		calls ? nrt_calls() : nrt_variants();
	printf("done\n");
	while (fgets(line, sizeof(line), stdin))
		;
	return 0;
}
