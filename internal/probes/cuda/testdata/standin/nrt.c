/* Stand-in libnrt.so: the Neuron runtime entry points orb8 hooks, doing no device work. */
#include <stdlib.h>

#include "nrt.h"

struct nrt_tensor {
	size_t size;
	nrt_tensor_placement_t placement;
};

struct nrt_model {
	size_t neff_size;
};

/* Keeps the calls from being optimised away, as a real runtime's work would. */
volatile unsigned long long standin_work;

NRT_STATUS nrt_load(const void *neff_bytes, size_t size, int32_t start_nc, int32_t nc_count, nrt_model_t **model)
{
	if (size == STANDIN_REFUSED_SIZE)
		return NRT_RESOURCE;
	*model = malloc(sizeof(**model));
	if (!*model)
		return NRT_RESOURCE;
	(*model)->neff_size = size;
	return NRT_SUCCESS;
}

NRT_STATUS nrt_load_collectives(const void *neff_bytes, size_t size, int32_t start_nc, int32_t nc_count,
				uint32_t g_device_id, uint32_t g_device_count, nrt_model_t **model)
{
	return nrt_load(neff_bytes, size, start_nc, nc_count, model);
}

NRT_STATUS nrt_unload(nrt_model_t *model)
{
	free(model);
	return NRT_SUCCESS;
}

NRT_STATUS nrt_execute(nrt_model_t *model, const nrt_tensor_set_t *input_set, nrt_tensor_set_t *output_set)
{
	standin_work += model->neff_size;
	return NRT_SUCCESS;
}

NRT_STATUS nrt_execute_repeat(nrt_model_t *model, const nrt_tensor_set_t *input_set, nrt_tensor_set_t *output_set,
			      int repeat_count)
{
	standin_work += model->neff_size * repeat_count;
	return NRT_SUCCESS;
}

NRT_STATUS nrt_tensor_allocate(nrt_tensor_placement_t tensor_placement, int logical_nc_id, size_t size,
			       const char *name, nrt_tensor_t **tensor)
{
	if (size == STANDIN_REFUSED_SIZE)
		return NRT_RESOURCE;
	nrt_tensor_t *t = malloc(sizeof(*t));
	if (!t)
		return NRT_RESOURCE;
	t->size = size;
	t->placement = tensor_placement;
	*tensor = t;
	return NRT_SUCCESS;
}

void nrt_tensor_free(nrt_tensor_t **tensor)
{
	free(*tensor);
	*tensor = NULL;
}
