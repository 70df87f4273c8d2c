//go:build cgo

package amdsmi

/*
#cgo LDFLAGS: -ldl
#include <dlfcn.h>
#include <stdlib.h>
#include <string.h>
#include "amdsmi_abi.h"

typedef amdsmi_status_t (*init_fn)(uint64_t);
typedef amdsmi_status_t (*shut_down_fn)(void);
typedef amdsmi_status_t (*lib_version_fn)(amdsmi_version_t *);
typedef amdsmi_status_t (*socket_handles_fn)(uint32_t *, amdsmi_socket_handle *);
typedef amdsmi_status_t (*processor_handles_fn)(amdsmi_socket_handle, uint32_t *, amdsmi_processor_handle *);
typedef amdsmi_status_t (*uuid_fn)(amdsmi_processor_handle, unsigned int *, char *);
typedef amdsmi_status_t (*asic_info_fn)(amdsmi_processor_handle, amdsmi_asic_info_t *);
typedef amdsmi_status_t (*bdf_fn)(amdsmi_processor_handle, amdsmi_bdf_t *);
typedef amdsmi_status_t (*activity_fn)(amdsmi_processor_handle, amdsmi_engine_usage_t *);
typedef amdsmi_status_t (*memory_fn)(amdsmi_processor_handle, int, uint64_t *);
typedef amdsmi_status_t (*temp_fn)(amdsmi_processor_handle, int, int, int64_t *);
typedef amdsmi_status_t (*power_fn)(amdsmi_processor_handle, amdsmi_power_info_t *);
typedef amdsmi_status_t (*pci_throughput_fn)(amdsmi_processor_handle, uint64_t *, uint64_t *, uint64_t *);
typedef amdsmi_status_t (*gpu_metrics_fn)(amdsmi_processor_handle, void *);
typedef amdsmi_status_t (*process_list_fn)(amdsmi_processor_handle, uint32_t *, amdsmi_proc_info_t *);

static struct {
	init_fn init;
	shut_down_fn shut_down;
	lib_version_fn lib_version;
	socket_handles_fn socket_handles;
	processor_handles_fn processor_handles;
	uuid_fn uuid;
	asic_info_fn asic_info;
	bdf_fn bdf;
	activity_fn activity;
	memory_fn memory_usage, memory_total;
	temp_fn temp;
	power_fn power;
	pci_throughput_fn pci_throughput;
	gpu_metrics_fn gpu_metrics;
	process_list_fn process_list;
} orb8_amdsmi;

// orb8_amdsmi_open dlopens the library and finds its functions; it returns
// NULL, or what failed (a static string of dlerror's, or a missing name).
static const char *orb8_amdsmi_open(const char *path) {
	void *h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (h == NULL)
		return dlerror();
#define SYM(field, name) orb8_amdsmi.field = dlsym(h, name)
	SYM(init, "amdsmi_init");
	SYM(shut_down, "amdsmi_shut_down");
	SYM(lib_version, "amdsmi_get_lib_version");
	SYM(socket_handles, "amdsmi_get_socket_handles");
	SYM(processor_handles, "amdsmi_get_processor_handles");
	SYM(uuid, "amdsmi_get_gpu_device_uuid");
	SYM(asic_info, "amdsmi_get_gpu_asic_info");
	SYM(bdf, "amdsmi_get_gpu_device_bdf");
	SYM(activity, "amdsmi_get_gpu_activity");
	SYM(memory_usage, "amdsmi_get_gpu_memory_usage");
	SYM(memory_total, "amdsmi_get_gpu_memory_total");
	SYM(temp, "amdsmi_get_temp_metric");
	SYM(power, "amdsmi_get_power_info");
	SYM(pci_throughput, "amdsmi_get_gpu_pci_throughput");
	SYM(gpu_metrics, "amdsmi_get_gpu_metrics_info");
	SYM(process_list, "amdsmi_get_gpu_process_list");
#undef SYM
	if (!orb8_amdsmi.init || !orb8_amdsmi.shut_down || !orb8_amdsmi.socket_handles || !orb8_amdsmi.processor_handles)
		return "the library lacks amdsmi_init, amdsmi_shut_down, amdsmi_get_socket_handles or amdsmi_get_processor_handles";
	return NULL;
}

#define CALL(field, ...) (orb8_amdsmi.field ? orb8_amdsmi.field(__VA_ARGS__) : AMDSMI_STATUS_NOT_SUPPORTED)

static amdsmi_status_t orb8_init(void) { return orb8_amdsmi.init(AMDSMI_INIT_AMD_GPUS); }
static amdsmi_status_t orb8_shut_down(void) { return orb8_amdsmi.shut_down(); }
static amdsmi_status_t orb8_lib_version(amdsmi_version_t *v) { return CALL(lib_version, v); }
static amdsmi_status_t orb8_socket_handles(uint32_t *n, amdsmi_socket_handle *s) { return orb8_amdsmi.socket_handles(n, s); }
static amdsmi_status_t orb8_processor_handles(amdsmi_socket_handle s, uint32_t *n, amdsmi_processor_handle *p) { return orb8_amdsmi.processor_handles(s, n, p); }
static amdsmi_status_t orb8_uuid(amdsmi_processor_handle h, unsigned int *n, char *u) { return CALL(uuid, h, n, u); }
static amdsmi_status_t orb8_asic_info(amdsmi_processor_handle h, amdsmi_asic_info_t *a) { return CALL(asic_info, h, a); }
static amdsmi_status_t orb8_bdf(amdsmi_processor_handle h, uint64_t *bdf) {
	amdsmi_bdf_t b = {0};
	amdsmi_status_t st = CALL(bdf, h, &b);
	*bdf = b.as_uint;
	return st;
}
static amdsmi_status_t orb8_activity(amdsmi_processor_handle h, amdsmi_engine_usage_t *u) { return CALL(activity, h, u); }
static amdsmi_status_t orb8_memory_usage(amdsmi_processor_handle h, uint64_t *v) { return CALL(memory_usage, h, AMDSMI_MEM_TYPE_VRAM, v); }
static amdsmi_status_t orb8_memory_total(amdsmi_processor_handle h, uint64_t *v) { return CALL(memory_total, h, AMDSMI_MEM_TYPE_VRAM, v); }
static amdsmi_status_t orb8_temp(amdsmi_processor_handle h, int sensor, int64_t *v) { return CALL(temp, h, sensor, AMDSMI_TEMP_CURRENT, v); }
static amdsmi_status_t orb8_power(amdsmi_processor_handle h, amdsmi_power_info_t *p) { return CALL(power, h, p); }
static amdsmi_status_t orb8_pci_throughput(amdsmi_processor_handle h, uint64_t *sent, uint64_t *received) { return CALL(pci_throughput, h, sent, received, NULL); }
static amdsmi_status_t orb8_indep_throttle(amdsmi_processor_handle h, uint64_t *v) {
	void *buf = calloc(1, ORB8_AMDSMI_GPU_METRICS_BUFFER);
	if (buf == NULL)
		return AMDSMI_STATUS_OUT_OF_RESOURCES;
	amdsmi_status_t st = CALL(gpu_metrics, h, buf);
	*v = ((orb8_amdsmi_gpu_metrics_head_t *)buf)->indep_throttle_status;
	free(buf);
	return st;
}
static amdsmi_status_t orb8_process_list(amdsmi_processor_handle h, uint32_t *n, amdsmi_proc_info_t *list) { return CALL(process_list, h, n, list); }
*/
import "C"

import (
	"errors"
	"fmt"
	"sync"
	"unsafe"
)

// status is an amdsmi_status_t.
type status C.amdsmi_status_t

const (
	success        = status(C.AMDSMI_STATUS_SUCCESS)
	outOfResources = status(C.AMDSMI_STATUS_OUT_OF_RESOURCES)
)

func (s status) Error() string { return fmt.Sprintf("amd-smi status %d", int(s)) }

// opened serializes the library's loading: its functions live in C globals.
var opened sync.Mutex

// open dlopens amd-smi at path (a name the dynamic linker looks up, or a
// path) and initializes it for AMD GPUs.
func open(path string) error {
	opened.Lock()
	defer opened.Unlock()
	cpath := C.CString(path)
	defer C.free(unsafe.Pointer(cpath))
	if msg := C.orb8_amdsmi_open(cpath); msg != nil {
		return errors.New(C.GoString(msg))
	}
	if st := status(C.orb8_init()); st != success {
		return fmt.Errorf("amdsmi_init: %w", st)
	}
	return nil
}

func shutDown() error {
	if st := status(C.orb8_shut_down()); st != success {
		return fmt.Errorf("amdsmi_shut_down: %w", st)
	}
	return nil
}

// libVersion is the library's version: year, major, minor.
func libVersion() (v version, ok bool) {
	var cv C.amdsmi_version_t
	if status(C.orb8_lib_version(&cv)) != success {
		return v, false
	}
	return version{uint32(cv.year), uint32(cv.major), uint32(cv.minor)}, true
}

// maxHandles bounds the sockets, and the GPUs of a socket, read.
const maxHandles = 64

// processors lists the GPUs in amd-smi's order: by socket, then within it.
func processors() ([]handle, error) {
	n := C.uint32_t(maxHandles)
	sockets := make([]C.amdsmi_socket_handle, maxHandles)
	if st := status(C.orb8_socket_handles(&n, &sockets[0])); st != success {
		return nil, fmt.Errorf("amdsmi_get_socket_handles: %w", st)
	}
	var out []handle
	for _, s := range sockets[:min(int(n), maxHandles)] {
		m := C.uint32_t(maxHandles)
		procs := make([]C.amdsmi_processor_handle, maxHandles)
		if st := status(C.orb8_processor_handles(s, &m, &procs[0])); st != success {
			return nil, fmt.Errorf("amdsmi_get_processor_handles: %w", st)
		}
		for _, p := range procs[:min(int(m), maxHandles)] {
			out = append(out, handle{p})
		}
	}
	return out, nil
}

// handle is one GPU of amd-smi.
type handle struct{ h C.amdsmi_processor_handle }

func (g handle) uuid() string {
	buf := make([]C.char, C.AMDSMI_GPU_UUID_SIZE+1)
	n := C.uint(C.AMDSMI_GPU_UUID_SIZE)
	if status(C.orb8_uuid(g.h, &n, &buf[0])) != success {
		return ""
	}
	return cString(buf)
}

func (g handle) model() string {
	var a C.amdsmi_asic_info_t
	if status(C.orb8_asic_info(g.h, &a)) != success {
		return ""
	}
	return cString(a.market_name[:])
}

// bdf is the GPU's PCI address as the AMD device plugin names it
// (0000:c1:00.0).
func (g handle) bdf() string {
	var b C.uint64_t
	if status(C.orb8_bdf(g.h, &b)) != success {
		return ""
	}
	return formatBDF(uint64(b))
}

func (g handle) activity() (percent uint32, ok bool) {
	var u C.amdsmi_engine_usage_t
	if status(C.orb8_activity(g.h, &u)) != success {
		return 0, false
	}
	return uint32(u.gfx_activity), true
}

func (g handle) memory() (used, total uint64, ok bool) {
	var u, t C.uint64_t
	if status(C.orb8_memory_usage(g.h, &u)) != success || status(C.orb8_memory_total(g.h, &t)) != success {
		return 0, 0, false
	}
	return uint64(u), uint64(t), true
}

// temperature is the hotspot (junction) sensor's, else the edge sensor's,
// in degrees Celsius (amd-smi converts from the driver's millidegrees).
func (g handle) temperature() (int64, bool) {
	var t C.int64_t
	for _, sensor := range []C.int{C.AMDSMI_TEMPERATURE_TYPE_HOTSPOT, C.AMDSMI_TEMPERATURE_TYPE_EDGE} {
		if status(C.orb8_temp(g.h, sensor, &t)) == success {
			return int64(t), true
		}
	}
	return 0, false
}

// power is the socket's power in watts: the current reading, else the
// average.
func (g handle) power() (uint32, bool) {
	var p C.amdsmi_power_info_t
	if status(C.orb8_power(g.h, &p)) != success {
		return 0, false
	}
	return socketPower(uint32(p.current_socket_power), uint32(p.average_socket_power))
}

// pcie is the GPU's PCIe traffic of the last second, in bytes: amd-smi
// samples it for a second, so it is read concurrently per GPU.
func (g handle) pcie() (sent, received uint64, ok bool) {
	var s, r C.uint64_t
	if status(C.orb8_pci_throughput(g.h, &s, &r)) != success {
		return 0, 0, false
	}
	return uint64(s), uint64(r), true
}

// throttle is the GPU metrics table's indep_throttle_status.
func (g handle) throttle() (uint64, bool) {
	var v C.uint64_t
	if status(C.orb8_indep_throttle(g.h, &v)) != success {
		return 0, false
	}
	return uint64(v), true
}

// maxProcesses bounds the processes of one GPU read.
const maxProcesses = 1024

// processes lists the processes using the GPU (amd-smi 24.5 on: the
// amdsmi_proc_info_t layout); truncated is true past maxProcesses.
func (g handle) processes() (out []process, truncated bool, err error) {
	size := 64
	for {
		list := make([]C.amdsmi_proc_info_t, size)
		n := C.uint32_t(size)
		st := status(C.orb8_process_list(g.h, &n, &list[0]))
		if st == outOfResources && size < maxProcesses {
			size = min(max(int(n), 2*size), maxProcesses)
			continue
		}
		if st != success && st != outOfResources {
			return nil, false, fmt.Errorf("amdsmi_get_gpu_process_list: %w", st)
		}
		for _, p := range list[:min(int(n), size)] {
			out = append(out, process{name: cString(p.name[:]), pid: uint32(p.pid),
				vram: uint64(p.memory_usage.vram_mem), gfxNs: uint64(p.engine_usage.gfx)})
		}
		return out, st == outOfResources, nil
	}
}

// cString is the NUL-terminated string in buf.
func cString(buf []C.char) string {
	b := unsafe.Slice((*byte)(unsafe.Pointer(&buf[0])), len(buf))
	return cBytes(b)
}
