package syscalls

import (
	"strconv"

	"golang.org/x/sys/unix"
)

// Errors the kernel uses inside a syscall that is then restarted or turned
// into EINTR after sys_exit, so the tracepoint sees them (include/linux/errno.h).
var kernelErrnos = map[uint32]string{
	512: "ERESTARTSYS",
	513: "ERESTARTNOINTR",
	514: "ERESTARTNOHAND",
	515: "ENOIOCTLCMD",
	516: "ERESTART_RESTARTBLOCK",
}

// errnoName names a positive errno, e.g. ENOENT; unknown ones read "errno_<n>".
func errnoName(e uint32) string {
	if name := unix.ErrnoName(unix.Errno(e)); name != "" {
		return name
	}
	if name, ok := kernelErrnos[e]; ok {
		return name
	}
	return "errno_" + strconv.FormatUint(uint64(e), 10)
}
