/* The part of AMD SMI's amdsmi.h (ROCm/amdsmi, include/amd_smi/amdsmi.h)
 * that orb8 calls: the same names, signatures and struct layouts as
 * amd-smi library 24.5 to 24.7 (ROCm 6.1 to 6.3). Declared here so that
 * orb8 builds without ROCm; the library itself is dlopened at run time.
 * The sizes and offsets asserted below are those of the real header. */
#ifndef ORB8_AMDSMI_ABI_H
#define ORB8_AMDSMI_ABI_H

#include <stddef.h>
#include <stdint.h>

typedef enum {
	AMDSMI_STATUS_SUCCESS = 0,
	AMDSMI_STATUS_NOT_SUPPORTED = 2,
	AMDSMI_STATUS_OUT_OF_RESOURCES = 15,
	AMDSMI_STATUS_NOT_INIT = 32,
} amdsmi_status_t;

#define AMDSMI_INIT_AMD_GPUS (1 << 1)
#define AMDSMI_GPU_UUID_SIZE 38
#define AMDSMI_MEM_TYPE_VRAM 0
#define AMDSMI_TEMPERATURE_TYPE_EDGE 0
#define AMDSMI_TEMPERATURE_TYPE_HOTSPOT 1
#define AMDSMI_TEMP_CURRENT 0

typedef void *amdsmi_socket_handle;
typedef void *amdsmi_processor_handle;
typedef uint32_t amdsmi_process_handle_t;

typedef struct {
	uint32_t year;
	uint32_t major;
	uint32_t minor;
	uint32_t release;
	const char *build;
} amdsmi_version_t;

typedef union {
	struct {
		uint64_t function_number : 3;
		uint64_t device_number : 5;
		uint64_t bus_number : 8;
		uint64_t domain_number : 48;
	};
	uint64_t as_uint;
} amdsmi_bdf_t;

typedef struct {
	uint32_t gfx_activity; /* percent */
	uint32_t umc_activity;
	uint32_t mm_activity;
	uint32_t reserved[13];
} amdsmi_engine_usage_t;

typedef struct {
	uint32_t current_socket_power; /* W */
	uint32_t average_socket_power; /* W */
	uint32_t gfx_voltage;
	uint32_t soc_voltage;
	uint32_t mem_voltage;
	uint32_t power_limit;
	uint32_t reserved[11];
} amdsmi_power_info_t;

typedef struct {
	char market_name[256];
	uint32_t vendor_id;
	char vendor_name[64];
	uint32_t subvendor_id;
	uint64_t device_id;
	uint32_t rev_id;
	char asic_serial[32];
	uint32_t oam_id;
	uint32_t num_of_compute_units;
	uint64_t target_graphics_version;
	uint32_t reserved[15];
} amdsmi_asic_info_t;

typedef struct {
	char name[32];
	amdsmi_process_handle_t pid;
	uint64_t mem;
	struct engine_usage_ {
		uint64_t gfx; /* ns busy */
		uint64_t enc;
		uint32_t reserved[12];
	} engine_usage;
	struct memory_usage_ {
		uint64_t gtt_mem;
		uint64_t cpu_mem;
		uint64_t vram_mem;
		uint32_t reserved[10];
	} memory_usage;
	char container_name[32];
	uint32_t reserved[4];
} amdsmi_proc_info_t;

/* The head of amdsmi_gpu_metrics_t: its v1.0 to v1.3 fields, which later
 * versions keep and append to. The library fills a whole
 * amdsmi_gpu_metrics_t (1832 bytes in 24.7): callers pass a larger buffer. */
typedef struct {
	uint16_t structure_size;
	uint8_t format_revision;
	uint8_t content_revision;
	uint16_t temperature_edge, temperature_hotspot, temperature_mem;
	uint16_t temperature_vrgfx, temperature_vrsoc, temperature_vrmem;
	uint16_t average_gfx_activity, average_umc_activity, average_mm_activity;
	uint16_t average_socket_power;
	uint64_t energy_accumulator;
	uint64_t system_clock_counter;
	uint16_t average_clocks[7];
	uint16_t current_clocks[7];
	uint32_t throttle_status;
	uint16_t current_fan_speed;
	uint16_t pcie_link_width;
	uint16_t pcie_link_speed;
	uint32_t gfx_activity_acc;
	uint32_t mem_activity_acc;
	uint16_t temperature_hbm[4];
	uint64_t firmware_timestamp;
	uint16_t voltage_soc, voltage_gfx, voltage_mem;
	uint64_t indep_throttle_status; /* amdgpu SMU_THROTTLER_* bits */
} orb8_amdsmi_gpu_metrics_head_t;

#define ORB8_AMDSMI_GPU_METRICS_BUFFER 16384

_Static_assert(sizeof(amdsmi_proc_info_t) == 224, "amdsmi_proc_info_t");
_Static_assert(offsetof(amdsmi_proc_info_t, pid) == 32, "amdsmi_proc_info_t.pid");
_Static_assert(offsetof(amdsmi_proc_info_t, memory_usage.vram_mem) == 128, "amdsmi_proc_info_t.vram_mem");
_Static_assert(sizeof(amdsmi_asic_info_t) == 456, "amdsmi_asic_info_t");
_Static_assert(sizeof(amdsmi_power_info_t) == 68, "amdsmi_power_info_t");
_Static_assert(sizeof(amdsmi_engine_usage_t) == 64, "amdsmi_engine_usage_t");
_Static_assert(offsetof(orb8_amdsmi_gpu_metrics_head_t, throttle_status) == 68, "throttle_status");
_Static_assert(offsetof(orb8_amdsmi_gpu_metrics_head_t, indep_throttle_status) == 112, "indep_throttle_status");

#endif
