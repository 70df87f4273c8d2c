package memory

import "github.com/spf13/pflag"

// Options are the memory probe's settings.
type Options struct {
	// PageAllocations counts every page allocation per workload and process
	// (top allocators by pages): a hook on every page the kernel hands out,
	// off by default for its cost (docs/benchmarks.md).
	PageAllocations bool
}

// DefaultOptions are the settings with nothing configured.
func DefaultOptions() Options { return Options{} }

// BindFlags registers the options as flags on fs, writing into o.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.PageAllocations, "memory-page-allocations", o.PageAllocations, "count page allocations per workload and process (memory probe; costs ~100 ns more per page fault, see docs/benchmarks.md)")
}

// Validate checks the options; every value is valid.
func (o *Options) Validate() error { return nil }
