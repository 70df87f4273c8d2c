package nvml

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// Options are the NVML probe's settings; builds without cgo accept them too.
type Options struct {
	// Interval is how often NVML is polled; its calls take a driver lock.
	Interval time.Duration
	// PodResourcesSocket is the kubelet pod-resources API; absent: no
	// GPU-to-pod allocation. The TPU probe reads the same socket.
	PodResourcesSocket string
}

// DefaultOptions are the settings with nothing configured.
func DefaultOptions() Options {
	return Options{Interval: 5 * time.Second, PodResourcesSocket: "/var/lib/kubelet/pod-resources/kubelet.sock"}
}

// BindFlags registers the options as flags on fs, writing into o.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.Interval, "nvml-interval", o.Interval, "how often GPU devices and processes are read through NVML (at least 1s)")
	fs.StringVar(&o.PodResourcesSocket, "pod-resources-socket", o.PodResourcesSocket, "kubelet pod-resources socket, for which pod holds which GPU or TPU chip (absent: off)")
}

// Validate checks the options as flags name them.
func (o *Options) Validate() error {
	if o.Interval < time.Second {
		return fmt.Errorf("--nvml-interval %s is too short: NVML holds a driver lock, use at least 1s", o.Interval)
	}
	return nil
}
