package agent

import (
	"fmt"
	"os"
	"slices"

	"github.com/spf13/pflag"

	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/probes/amdsmi"
	"github.com/orb8/orb8/internal/probes/cuda"
	"github.com/orb8/orb8/internal/probes/enforce"
	"github.com/orb8/orb8/internal/probes/http"
	"github.com/orb8/orb8/internal/probes/memory"
	"github.com/orb8/orb8/internal/probes/neuron"
	"github.com/orb8/orb8/internal/probes/nvml"
	"github.com/orb8/orb8/internal/probes/sched"
	"github.com/orb8/orb8/internal/probes/syscalls"
	"github.com/orb8/orb8/internal/probes/tpu"
)

// Config is what the agent runs with: its own settings, and the options of
// the probe families that have any, each owning its flags.
type Config struct {
	config.Config
	Memory   memory.Options
	HTTP     http.Options
	Sched    sched.Options
	Syscalls syscalls.Options
	CUDA     cuda.Options
	NVML     nvml.Options
	TPU      tpu.Options
	AMDSMI   amdsmi.Options
	Neuron   neuron.Options
}

// options are one probe family's settings.
type options interface {
	BindFlags(fs *pflag.FlagSet)
	Validate() error
}

// DefaultConfig is the configuration with nothing set.
func DefaultConfig() Config {
	return Config{
		Config:   config.Default(),
		Memory:   memory.DefaultOptions(),
		HTTP:     http.DefaultOptions(),
		Sched:    sched.DefaultOptions(),
		Syscalls: syscalls.DefaultOptions(),
		CUDA:     cuda.DefaultOptions(),
		NVML:     nvml.DefaultOptions(),
		TPU:      tpu.DefaultOptions(),
		AMDSMI:   amdsmi.DefaultOptions(),
		Neuron:   neuron.DefaultOptions(),
	}
}

// BindFlags registers every setting, the agent's and each probe family's,
// as a flag on fs, writing into c. A --config file sets them all alike.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	c.Config.BindFlags(fs)
	for _, k := range catalog {
		if k.options != nil {
			k.options(c).BindFlags(fs)
		}
	}
}

// Validate checks every setting.
func (c *Config) Validate() error {
	if err := c.Config.Validate(ProbeNames()); err != nil {
		return err
	}
	if err := c.validatePolicies(); err != nil {
		return err
	}
	if err := c.Shaping().Validate(MetricNames()); err != nil {
		return err
	}
	for _, k := range catalog {
		if k.options != nil {
			if err := k.options(c).Validate(); err != nil {
				return err
			}
		}
	}
	return nil
}

// validatePolicies: the enforce probe runs exactly when there are policies
// to enforce: --policy-dir names a directory, or --kube-policies.
func (c *Config) validatePolicies() error {
	if !c.Policies() {
		if slices.Contains(c.Probes, enforce.Name) {
			return fmt.Errorf("the %s probe enforces the policies of --policy-dir or --kube-policies: set one", enforce.Name)
		}
		return nil
	}
	if slices.Contains(c.DisableProbes, enforce.Name) {
		return fmt.Errorf("policies need the %s probe, which --disable-probes turns off", enforce.Name)
	}
	if c.PolicyDir == "" {
		return nil
	}
	if st, err := os.Stat(c.PolicyDir); err != nil || !st.IsDir() {
		return fmt.Errorf("--policy-dir %s: not a directory the agent can read", c.PolicyDir)
	}
	return nil
}
