package syscalls

import (
	"fmt"
	"slices"
	"strings"

	"github.com/spf13/pflag"

	"github.com/orb8/orb8/internal/sysnames"
)

// MaxTracked bounds the tracked set: each name is a metric label value.
const MaxTracked = 64

// defaultSyscalls are tracked when none are configured: calls that fail or
// block meaningfully and are rare enough to count cheaply (docs/benchmarks.md
// has the cost of tracking hot ones such as read and write).
var defaultSyscalls = []string{"openat", "execve", "connect", "accept4", "clone", "clone3", "unlinkat", "mkdirat", "renameat2", "bind", "listen", "ptrace", "kill", "mount"}

// Options are the syscalls probe's settings.
type Options struct {
	// Syscalls are counted per workload; each is a value of the syscall
	// label, so the set stays small.
	Syscalls []string
}

// DefaultOptions are the settings with nothing configured.
func DefaultOptions() Options { return Options{Syscalls: slices.Clone(defaultSyscalls)} }

// BindFlags registers the options as flags on fs, writing into o.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&o.Syscalls, "syscalls", o.Syscalls, fmt.Sprintf("syscalls (names of the machine's architecture) the syscalls probe counts, times and records errors of per workload (at most %d)", MaxTracked))
}

// Validate checks the options as flags name them.
func (o *Options) Validate() error {
	if _, err := tracked(o.Syscalls); err != nil {
		return fmt.Errorf("--syscalls: %w", err)
	}
	return nil
}

// tracked resolves the set to track, refusing what the tracker cannot follow.
func tracked(names []string) ([]uint32, error) {
	if len(names) > MaxTracked {
		return nil, fmt.Errorf("%d syscalls to track: at most %d (each is a metric label value)", len(names), MaxTracked)
	}
	for _, name := range names {
		if name = strings.TrimSpace(name); name == "exit" || name == "exit_group" {
			return nil, fmt.Errorf("syscall %q never returns, so it cannot be tracked; the process probe counts exits", name)
		}
	}
	return sysnames.Numbers(names)
}
