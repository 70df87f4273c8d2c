package sched

import "github.com/spf13/pflag"

// Options are the scheduler probe's settings.
type Options struct {
	// RunqueueHistogram times every run-queue wait into a histogram per
	// workload: a program on every context switch, off by default for its
	// cost (docs/benchmarks.md). The mean wait comes without it.
	RunqueueHistogram bool
}

// DefaultOptions are the settings with nothing configured.
func DefaultOptions() Options { return Options{} }

// BindFlags registers the options as flags on fs, writing into o.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.BoolVar(&o.RunqueueHistogram, "sched-runqueue-histogram", o.RunqueueHistogram, "time every run-queue wait into orb8_sched_runqueue_latency_seconds per workload (sched probe; a program on every context switch: +3-11% CPU on a context-switch ping-pong, see docs/benchmarks.md)")
}

// Validate checks the options; every value is valid.
func (o *Options) Validate() error { return nil }
