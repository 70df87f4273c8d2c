package probe

import (
	"fmt"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"
)

// bootEpoch is the wall-clock time at which CLOCK_BOOTTIME was zero.
var bootEpoch = func() time.Time {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_BOOTTIME, &ts); err != nil {
		return time.Time{}
	}
	return time.Now().Add(-time.Duration(ts.Nano()))
}()

// BootTime converts bpf_ktime_get_boot_ns() to wall-clock time.
func BootTime(ns uint64) time.Time { return bootEpoch.Add(time.Duration(ns)) }

// CString returns the text of a NUL-terminated byte array.
func CString(b []byte) string {
	for i, c := range b {
		if c == 0 {
			return string(b[:i])
		}
	}
	return string(b)
}

// SetLoadTime sets the program's constant variable to now on
// bpf_ktime_get_ns's clock (CLOCK_MONOTONIC, as task start_time), so the
// programs can tell tasks that started before they were loaded.
func SetLoadTime(spec *ebpf.CollectionSpec, variable string) error {
	v := spec.Variables[variable]
	if v == nil {
		return fmt.Errorf("variable %s is not in the collection", variable)
	}
	var now unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_MONOTONIC, &now); err != nil {
		return err
	}
	return v.Set(uint64(now.Nano()))
}
