package config

import (
	"fmt"
	"slices"

	"github.com/spf13/pflag"

	"github.com/orb8/orb8/internal/probes/syscalls/sysnames"
)

// SyscallTracing holds the settings of the syscalls probe.
type SyscallTracing struct {
	// Syscalls are counted per workload; each is a value of the syscall
	// label, so the set stays small.
	Syscalls []string `yaml:"syscalls"`
}

func defaultSyscallTracing() SyscallTracing {
	return SyscallTracing{Syscalls: slices.Clone(sysnames.Default)}
}

func (s *SyscallTracing) bindFlags(fs *pflag.FlagSet) {
	fs.StringSliceVar(&s.Syscalls, "syscalls", s.Syscalls, fmt.Sprintf("syscalls (names of the machine's architecture) the syscalls probe counts, times and records errors of per workload (at most %d)", sysnames.MaxTracked))
}

func (s *SyscallTracing) validate() error {
	if _, err := sysnames.Numbers(s.Syscalls, true); err != nil {
		return fmt.Errorf("--syscalls: %w", err)
	}
	return nil
}
