package tpu

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// Options are the TPU probe's settings.
type Options struct {
	// Interval is how often TPU workloads are found and their metrics
	// service polled.
	Interval time.Duration
	// Port is where libtpu's RuntimeMetricService listens inside each
	// workload's network namespace.
	Port uint16
	// Timeout bounds one workload's poll, connection and every call.
	Timeout time.Duration
	// MaxEndpoints bounds the workloads polled at once; more are counted
	// (orb8_tpu_poll_errors_total{reason="endpoints_full"}) and skipped.
	MaxEndpoints int
}

// DefaultOptions are the settings with nothing configured.
func DefaultOptions() Options {
	return Options{Interval: 10 * time.Second, Port: 8431, Timeout: 2 * time.Second, MaxEndpoints: 64}
}

// BindFlags registers the options as flags on fs, writing into o.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.Interval, "tpu-interval", o.Interval, "how often TPU workloads' libtpu metrics services are polled (at least 1s)")
	fs.Uint16Var(&o.Port, "tpu-metrics-port", o.Port, "port of libtpu's runtime metrics service inside each TPU workload's network namespace")
	fs.DurationVar(&o.Timeout, "tpu-timeout", o.Timeout, "time limit of one TPU workload's poll")
	fs.IntVar(&o.MaxEndpoints, "tpu-max-endpoints", o.MaxEndpoints, "most TPU workloads polled; more are counted and skipped")
}

// Validate checks the options as flags name them.
func (o *Options) Validate() error {
	switch {
	case o.Interval < time.Second:
		return fmt.Errorf("--tpu-interval %s is too short: use at least 1s", o.Interval)
	case o.Port == 0:
		return fmt.Errorf("--tpu-metrics-port must not be 0")
	case o.Timeout <= 0 || o.Timeout > o.Interval:
		return fmt.Errorf("--tpu-timeout %s must be positive and at most --tpu-interval %s", o.Timeout, o.Interval)
	case o.MaxEndpoints < 1:
		return fmt.Errorf("--tpu-max-endpoints %d must be at least 1", o.MaxEndpoints)
	}
	return nil
}
