/* The slice of the Neuron runtime API (nrt/nrt.h) the stand-in implements, with the real names and signatures. */
#pragma once
#include <stddef.h>
#include <stdint.h>

typedef int NRT_STATUS; /* nrt/nrt_status.h: NRT_SUCCESS = 0 */
#define NRT_SUCCESS 0
#define NRT_RESOURCE 4

typedef struct nrt_model nrt_model_t;
typedef struct nrt_tensor nrt_tensor_t;
typedef void nrt_tensor_set_t;

typedef enum {
	NRT_TENSOR_PLACEMENT_DEVICE,
	NRT_TENSOR_PLACEMENT_HOST,
	NRT_TENSOR_PLACEMENT_VIRTUAL,
} nrt_tensor_placement_t;

/* A size the stand-in refuses, to test that failed calls are not counted. */
#define STANDIN_REFUSED_SIZE ((size_t)1 << 50)

NRT_STATUS nrt_load(const void *neff_bytes, size_t size, int32_t start_nc, int32_t nc_count, nrt_model_t **model);
NRT_STATUS nrt_load_collectives(const void *neff_bytes, size_t size, int32_t start_nc, int32_t nc_count,
				uint32_t g_device_id, uint32_t g_device_count, nrt_model_t **model);
NRT_STATUS nrt_unload(nrt_model_t *model);
NRT_STATUS nrt_execute(nrt_model_t *model, const nrt_tensor_set_t *input_set, nrt_tensor_set_t *output_set);
NRT_STATUS nrt_execute_repeat(nrt_model_t *model, const nrt_tensor_set_t *input_set, nrt_tensor_set_t *output_set,
			      int repeat_count);
NRT_STATUS nrt_tensor_allocate(nrt_tensor_placement_t tensor_placement, int logical_nc_id, size_t size,
			       const char *name, nrt_tensor_t **tensor);
void nrt_tensor_free(nrt_tensor_t **tensor);
