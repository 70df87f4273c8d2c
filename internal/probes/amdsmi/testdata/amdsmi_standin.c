/* A stand-in for AMD SMI's libamd_smi.so: amd-smi's own symbol names and
 * signatures (amdsmi.h, library 24.7), two GPUs on one socket with fixed
 * readings, and the processes listed in $ORB8_AMDSMI_STANDIN_PROCS
 * ("gpu:pid:name:vram_bytes:gfx_ns,..."). Built by the tests with
 * -fcf-protection=full. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../amdsmi_abi.h"

#define GPUS 2
static int initialized;
static int sockets[1];
static int gpus[GPUS];

amdsmi_status_t amdsmi_init(uint64_t flags) {
	if (!(flags & AMDSMI_INIT_AMD_GPUS))
		return AMDSMI_STATUS_NOT_SUPPORTED;
	initialized++;
	return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_shut_down(void) {
	if (!initialized)
		return AMDSMI_STATUS_NOT_INIT;
	initialized--;
	return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_lib_version(amdsmi_version_t *v) {
	v->year = 24, v->major = 7, v->minor = 0, v->release = 0, v->build = "24.7.0.0-standin";
	return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_socket_handles(uint32_t *count, amdsmi_socket_handle *handles) {
	if (!initialized)
		return AMDSMI_STATUS_NOT_INIT;
	if (handles != NULL && *count >= 1)
		handles[0] = &sockets[0];
	*count = 1;
	return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_processor_handles(amdsmi_socket_handle socket, uint32_t *count, amdsmi_processor_handle *handles) {
	if (socket != &sockets[0])
		return AMDSMI_STATUS_NOT_SUPPORTED;
	for (uint32_t i = 0; handles != NULL && i < GPUS && i < *count; i++)
		handles[i] = &gpus[i];
	*count = GPUS;
	return AMDSMI_STATUS_SUCCESS;
}

static int gpu(amdsmi_processor_handle h) {
	for (int i = 0; i < GPUS; i++)
		if (h == &gpus[i])
			return i;
	return -1;
}

#define GPU_OR_FAIL(h) int i = gpu(h); if (i < 0) return AMDSMI_STATUS_NOT_SUPPORTED

amdsmi_status_t amdsmi_get_gpu_device_uuid(amdsmi_processor_handle h, unsigned int *len, char *uuid) {
	GPU_OR_FAIL(h);
	if (*len < AMDSMI_GPU_UUID_SIZE)
		return AMDSMI_STATUS_OUT_OF_RESOURCES;
	snprintf(uuid, *len, "%02xff74a1-0000-1000-80da-5c2b8e4f9a0%d", i, i);
	return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_asic_info(amdsmi_processor_handle h, amdsmi_asic_info_t *info) {
	GPU_OR_FAIL(h);
	memset(info, 0, sizeof(*info));
	strcpy(info->market_name, "AMD Instinct MI300X");
	info->vendor_id = 0x1002;
	return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_device_bdf(amdsmi_processor_handle h, amdsmi_bdf_t *bdf) {
	GPU_OR_FAIL(h);
	bdf->as_uint = 0;
	bdf->bus_number = 0xc1 + i; /* 0000:c1:00.0, 0000:c2:00.0 */
	return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_activity(amdsmi_processor_handle h, amdsmi_engine_usage_t *u) {
	GPU_OR_FAIL(h);
	memset(u, 0, sizeof(*u));
	u->gfx_activity = i == 0 ? 75 : 25;
	return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_memory_usage(amdsmi_processor_handle h, int type, uint64_t *used) {
	GPU_OR_FAIL(h);
	if (type != AMDSMI_MEM_TYPE_VRAM)
		return AMDSMI_STATUS_NOT_SUPPORTED;
	*used = (uint64_t)(3 + 2 * i) << 30;
	return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_memory_total(amdsmi_processor_handle h, int type, uint64_t *total) {
	GPU_OR_FAIL(h);
	if (type != AMDSMI_MEM_TYPE_VRAM)
		return AMDSMI_STATUS_NOT_SUPPORTED;
	*total = (uint64_t)192 << 30;
	return AMDSMI_STATUS_SUCCESS;
}

/* MI300X has no edge sensor: GPU 0 answers hotspot only, GPU 1 edge only. */
amdsmi_status_t amdsmi_get_temp_metric(amdsmi_processor_handle h, int sensor, int metric, int64_t *celsius) {
	GPU_OR_FAIL(h);
	if (metric != AMDSMI_TEMP_CURRENT || sensor != (i == 0 ? AMDSMI_TEMPERATURE_TYPE_HOTSPOT : AMDSMI_TEMPERATURE_TYPE_EDGE))
		return AMDSMI_STATUS_NOT_SUPPORTED;
	*celsius = 55 + i;
	return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_power_info(amdsmi_processor_handle h, amdsmi_power_info_t *p) {
	GPU_OR_FAIL(h);
	memset(p, 0, sizeof(*p));
	if (i == 0)
		p->current_socket_power = 750;
	else
		p->average_socket_power = 300; /* no current reading */
	return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_pci_throughput(amdsmi_processor_handle h, uint64_t *sent, uint64_t *received, uint64_t *max_pkt_sz) {
	GPU_OR_FAIL(h);
	if (i == 1)
		return AMDSMI_STATUS_NOT_SUPPORTED;
	if (sent)
		*sent = 1000000;
	if (received)
		*received = 3000000;
	if (max_pkt_sz)
		*max_pkt_sz = 256;
	return AMDSMI_STATUS_SUCCESS;
}

/* Fills the whole 24.7 amdsmi_gpu_metrics_t: 1832 bytes. */
amdsmi_status_t amdsmi_get_gpu_metrics_info(amdsmi_processor_handle h, void *metrics) {
	GPU_OR_FAIL(h);
	memset(metrics, 0xab, 1832);
	orb8_amdsmi_gpu_metrics_head_t *m = metrics;
	m->structure_size = 1832, m->format_revision = 1, m->content_revision = 6;
	/* GPU 0: PPT0 (power) and TEMP_HOTSPOT (thermal); GPU 1: none. */
	m->indep_throttle_status = i == 0 ? (1ull << 0) | (1ull << 36) : 0;
	return AMDSMI_STATUS_SUCCESS;
}

amdsmi_status_t amdsmi_get_gpu_process_list(amdsmi_processor_handle h, uint32_t *max_processes, amdsmi_proc_info_t *list) {
	GPU_OR_FAIL(h);
	const char *env = getenv("ORB8_AMDSMI_STANDIN_PROCS");
	uint32_t n = 0;
	char buf[4096];
	snprintf(buf, sizeof(buf), "%s", env ? env : "");
	for (char *save, *rec = strtok_r(buf, ",", &save); rec; rec = strtok_r(NULL, ",", &save)) {
		int g;
		unsigned pid;
		char name[32];
		unsigned long long vram, gfx;
		if (sscanf(rec, "%d:%u:%31[^:]:%llu:%llu", &g, &pid, name, &vram, &gfx) != 5 || g != i)
			continue;
		if (n < *max_processes) {
			amdsmi_proc_info_t *p = &list[n];
			memset(p, 0, sizeof(*p));
			strcpy(p->name, name);
			p->pid = pid;
			p->mem = vram;
			p->memory_usage.vram_mem = vram;
			p->engine_usage.gfx = gfx;
		}
		n++;
	}
	amdsmi_status_t st = n > *max_processes ? AMDSMI_STATUS_OUT_OF_RESOURCES : AMDSMI_STATUS_SUCCESS;
	*max_processes = n;
	return st;
}
