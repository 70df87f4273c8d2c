package amdsmi

import (
	"fmt"
	"time"

	"github.com/spf13/pflag"
)

// Options are the amd-smi probe's settings; builds without cgo accept them
// too.
type Options struct {
	// Interval is how often amd-smi is polled.
	Interval time.Duration
	// Library is the amd-smi library dlopened: a name the dynamic linker
	// looks up, or a path.
	Library string
}

// DefaultOptions are the settings with nothing configured.
func DefaultOptions() Options {
	return Options{Interval: 5 * time.Second, Library: "libamd_smi.so"}
}

// rocmLibrary is where ROCm installs amd-smi, tried when the dynamic
// linker does not find Library by name.
const rocmLibrary = "/opt/rocm/lib/libamd_smi.so"

// BindFlags registers the options as flags on fs, writing into o.
func (o *Options) BindFlags(fs *pflag.FlagSet) {
	fs.DurationVar(&o.Interval, "amdsmi-interval", o.Interval, "how often AMD GPUs and their processes are read through amd-smi (at least 2s: a PCIe reading takes 1s)")
	fs.StringVar(&o.Library, "amdsmi-library", o.Library, "amd-smi library to load, by name or path (by name, "+rocmLibrary+" is tried too)")
}

// Validate checks the options as flags name them.
func (o *Options) Validate() error {
	switch {
	case o.Interval < 2*time.Second:
		return fmt.Errorf("--amdsmi-interval %s is too short: amd-smi samples PCIe for 1s, use at least 2s", o.Interval)
	case o.Library == "":
		return fmt.Errorf("--amdsmi-library must not be empty")
	}
	return nil
}
