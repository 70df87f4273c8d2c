package amdsmi

import (
	"bytes"
	"fmt"
)

// version is amd-smi's library version (amdsmi_version_t).
type version struct{ year, major, minor uint32 }

func (v version) String() string { return fmt.Sprintf("%d.%d.%d", v.year, v.major, v.minor) }

// hasProcInfo says whether amdsmi_get_gpu_process_list fills
// amdsmi_proc_info_t records of the layout orb8 reads: from 24.5 (before,
// it listed bare pids). Later versions are read alike, and each record is
// checked against /proc before it counts.
func (v version) hasProcInfo() bool { return v.year > 24 || v.year == 24 && v.major >= 5 }

// process is one amdsmi_proc_info_t.
type process struct {
	name  string // the process's comm
	pid   uint32
	vram  uint64 // bytes of device memory
	gfxNs uint64 // ns the graphics engine ran the process's work
}

// formatBDF writes amdsmi_bdf_t.as_uint as a PCI address: function bits
// 0-2, device 3-7, bus 8-15, domain 16-63.
func formatBDF(b uint64) string {
	return fmt.Sprintf("%04x:%02x:%02x.%x", b>>16, (b>>8)&0xff, (b>>3)&0x1f, b&0x7)
}

// socketPower picks amdsmi_power_info_t's current socket power, else its
// average (older GPUs report only one; 0 and 0xffff... mean none).
func socketPower(current, average uint32) (uint32, bool) {
	for _, w := range []uint32{current, average} {
		if w != 0 && w != 0xffff && w != 0xffffffff {
			return w, true
		}
	}
	return 0, false
}

// throttleReasons group amdgpu's SMU_THROTTLER_* bits of
// indep_throttle_status (drivers/gpu/drm/amd/pm/swsmu/inc/amdgpu_smu.h):
// power limits in bits 0-15, current limits 16-31, temperature 32-47,
// others (PPM, FIT) 48-63.
var throttleReasons = []struct {
	label string
	mask  uint64
}{
	{"power", 0xffff},
	{"current", 0xffff << 16},
	{"thermal", 0xffff << 32},
	{"other", 0xffff << 48},
}

// cBytes is the NUL-terminated string in b.
func cBytes(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}
