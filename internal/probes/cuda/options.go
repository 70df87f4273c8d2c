package cuda

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// Options are the CUDA probe's settings.
type Options struct {
	// LeakWindow: device memory that grows through a whole window is
	// flagged as a suspected leak.
	LeakWindow time.Duration
	// Exact counts every launch and GEMM, whatever the traps cost the
	// process; otherwise they are sampled in windows, within the agent's
	// overhead budget (probe.Env.MaxOverhead).
	Exact bool
	// timing paces the sampling windows; zero: defaultTiming.
	timing samplingTiming
}

// DefaultOptions are the settings with nothing configured.
func DefaultOptions() Options {
	return Options{LeakWindow: 5 * time.Minute}
}

// BindFlags registers the options as flags on fs, writing into o.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.LeakWindow, "cuda-leak-window", o.LeakWindow, "CUDA device memory that grows through this whole window is flagged in orb8_accelerator_memory_leak_suspected (at least 4s)")
	fs.BoolVar(&o.Exact, "cuda-exact", o.Exact, "count every CUDA kernel launch and GEMM, whatever it costs the process (about one uprobe trap, 1-3 us, per call); by default they are counted in windows that keep each process's trap time under --max-overhead, and estimated in between (orb8_accelerator_sampling_ratio)")
}

// Validate checks the options as flags name them.
func (o *Options) Validate() error {
	if o.LeakWindow < leakSteps*time.Second {
		return fmt.Errorf("--cuda-leak-window %s is too short: use at least 4s (it is sampled in 4 steps of at least 1s)", o.LeakWindow)
	}
	return nil
}

func (o *Options) samplingTiming() samplingTiming {
	if o.timing == (samplingTiming{}) {
		return defaultTiming
	}
	return o.timing
}
