package probe

import (
	"fmt"
	"os"
	"sync"

	"golang.org/x/sys/unix"
)

var tracefsOnce = sync.OnceValue(func() error {
	for _, p := range []string{"/sys/kernel/tracing/events", "/sys/kernel/debug/tracing/events"} {
		if _, err := os.Stat(p); err == nil {
			return nil
		}
	}
	if err := unix.Mount("nodev", "/sys/kernel/tracing", "tracefs", 0, ""); err != nil {
		return fmt.Errorf("tracefs is not mounted and mounting it at /sys/kernel/tracing failed: %w", err)
	}
	return nil
})

// EnsureTracefs mounts tracefs when classic tracepoints need it and it is absent.
func EnsureTracefs() error { return tracefsOnce() }
