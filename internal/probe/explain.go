package probe

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

var (
	// ErrUnsupported marks a hook this kernel does not offer, or refuses
	// whatever the capabilities.
	ErrUnsupported = errors.New("hook not supported by this kernel")
	// ErrMissingCapability marks a refusal the process's capabilities
	// explain.
	ErrMissingCapability = errors.New("missing capability")
)

// Explain classifies an error loading or attaching a program of type typ,
// keeping the kernel's message. Errors that mean "this kernel lacks the
// hook" wrap ErrUnsupported. EPERM wraps ErrMissingCapability, naming what
// the process lacks, when it lacks a capability typ needs (CAP_BPF, with
// CAP_PERFMON for tracing programs and CAP_NET_ADMIN for network and cgroup
// ones; CAP_SYS_ADMIN stands in for CAP_BPF and CAP_PERFMON); with all of
// them, EPERM is the kernel refusing (lockdown, an LSM, fentry on kernels
// that block ftrace hooking, an attach target a build refuses), which wraps
// ErrUnsupported.
func Explain(typ ebpf.ProgramType, err error) error {
	return explain(typ, err, effectiveCapability)
}

// Linux capability numbers (include/uapi/linux/capability.h).
const (
	capNetAdmin = 12
	capSysAdmin = 21
	capPerfmon  = 38
	capBPF      = 39
)

func explain(typ ebpf.ProgramType, err error, have func(capability int) bool) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EPERM):
		if missing := missingCapabilities(typ, have); len(missing) > 0 {
			return fmt.Errorf("%w %s (a %s program needs %s): %w", ErrMissingCapability, strings.Join(missing, " and "), typ, strings.Join(neededCapabilities(typ), " and "), err)
		}
		return fmt.Errorf("%w: refused with every capability it needs: %w", ErrUnsupported, err)
	case errors.Is(err, ebpf.ErrNotSupported), errors.Is(err, os.ErrNotExist), errors.Is(err, unix.EOPNOTSUPP),
		errors.Is(err, unix.EINVAL) && strings.Contains(err.Error(), "attach"):
		return fmt.Errorf("%w: %w", ErrUnsupported, err)
	}
	return err
}

// neededCapabilities are what loading and attaching a program of typ takes
// since Linux 5.8 (kernel/bpf/syscall.c: is_perfmon_prog_type,
// is_net_admin_prog_type; cgroup attachment).
func neededCapabilities(typ ebpf.ProgramType) []string {
	switch typ {
	case ebpf.Kprobe, ebpf.TracePoint, ebpf.PerfEvent, ebpf.RawTracepoint, ebpf.RawTracepointWritable,
		ebpf.Tracing, ebpf.LSM, ebpf.StructOps, ebpf.Extension:
		return []string{"CAP_BPF", "CAP_PERFMON"}
	case ebpf.SchedCLS, ebpf.SchedACT, ebpf.XDP, ebpf.SockOps, ebpf.SkSKB, ebpf.SkMsg, ebpf.FlowDissector,
		ebpf.CGroupSKB, ebpf.CGroupSock, ebpf.CGroupSockAddr, ebpf.CGroupSockopt, ebpf.CGroupSysctl, ebpf.CGroupDevice,
		ebpf.LWTIn, ebpf.LWTOut, ebpf.LWTXmit, ebpf.LWTSeg6Local, ebpf.Netfilter:
		return []string{"CAP_BPF", "CAP_NET_ADMIN"}
	}
	return []string{"CAP_BPF"}
}

// missingCapabilities lists the needed capabilities the process lacks.
func missingCapabilities(typ ebpf.ProgramType, have func(capability int) bool) []string {
	var missing []string
	for _, name := range neededCapabilities(typ) {
		switch name {
		case "CAP_BPF":
			if !have(capBPF) && !have(capSysAdmin) {
				missing = append(missing, name)
			}
		case "CAP_PERFMON":
			if !have(capPerfmon) && !have(capSysAdmin) {
				missing = append(missing, name)
			}
		case "CAP_NET_ADMIN":
			if !have(capNetAdmin) {
				missing = append(missing, name)
			}
		}
	}
	return missing
}

// effectiveCapability reports whether the calling thread has capability in
// its effective set; when that cannot be read, it says yes, so that a
// refusal is not blamed on a capability.
func effectiveCapability(capability int) bool {
	var data [2]unix.CapUserData
	if unix.Capget(&unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}, &data[0]) != nil {
		return true
	}
	return data[capability/32].Effective&(1<<(capability%32)) != 0
}
