package neuron

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// Options are the Neuron probe's settings.
type Options struct {
	// Interval is how often the Neuron sysfs counters are read.
	Interval time.Duration
}

// DefaultOptions are the settings with nothing configured.
func DefaultOptions() Options { return Options{Interval: 5 * time.Second} }

// BindFlags registers the options as flags on fs, writing into o.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.Interval, "neuron-interval", o.Interval, "how often AWS Neuron devices' sysfs counters (NeuronCore use, device memory) are read (at least 1s)")
}

// Validate checks the options as flags name them.
func (o *Options) Validate() error {
	if o.Interval < time.Second {
		return fmt.Errorf("--neuron-interval %s is too short: use at least 1s", o.Interval)
	}
	return nil
}
