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
}

// DefaultOptions are the settings with nothing configured.
func DefaultOptions() Options { return Options{LeakWindow: 5 * time.Minute} }

// BindFlags registers the options as flags on fs, writing into o.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.LeakWindow, "cuda-leak-window", o.LeakWindow, "CUDA device memory that grows through this whole window is flagged in orb8_cuda_memory_leak_suspected (at least 4s)")
}

// Validate checks the options as flags name them.
func (o *Options) Validate() error {
	if o.LeakWindow < leakSteps*time.Second {
		return fmt.Errorf("--cuda-leak-window %s is too short: use at least 4s (it is sampled in 4 steps of at least 1s)", o.LeakWindow)
	}
	return nil
}
