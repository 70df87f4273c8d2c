// Package config holds the agent's settings: defaults, a YAML file, and flags
// that override the file.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/orb8/orb8/internal/humanize"
)

// Config is the agent's configuration. YAML keys are the flag names.
type Config struct {
	ConfigFile    string        `yaml:"-"`
	MetricsAddr   string        `yaml:"metrics-addr"`
	Probes        []string      `yaml:"probes"`
	DisableProbes []string      `yaml:"disable-probes"`
	CgroupRoot    string        `yaml:"cgroup-root"`
	TLSCert       string        `yaml:"tls-cert"`
	TLSKey        string        `yaml:"tls-key"`
	TLSClientCA   string        `yaml:"tls-client-ca"`
	GoneGrace     time.Duration `yaml:"gone-grace"`
	LogLevel      string        `yaml:"log-level"`
	// MemoryPageAllocations hooks every page allocation (memory probe): off by default for its cost.
	MemoryPageAllocations bool `yaml:"memory-page-allocations"`
	// BPFStats turns on the kernel's BPF run-time statistics: off by default,
	// as they cost every BPF program on the node (the CNI's included) two
	// clock reads per run.
	BPFStats       bool `yaml:"bpf-stats"`
	API            `yaml:",inline"`
	Kube           `yaml:",inline"`
	GPU            `yaml:",inline"`
	SyscallTracing `yaml:",inline"`
	Export         `yaml:",inline"`
}

// Default is the configuration with nothing set.
func Default() Config {
	return Config{
		MetricsAddr:    ":9808",
		API:            defaultAPI(),
		Probes:         []string{"default"},
		GoneGrace:      5 * time.Minute,
		LogLevel:       "info",
		Kube:           Kube{NodeName: defaultNodeName()},
		GPU:            defaultGPU(),
		SyscallTracing: defaultSyscallTracing(),
		Export:         defaultExport(),
	}
}

// BindFlags registers every setting as a flag on fs, writing into c.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.ConfigFile, "config", c.ConfigFile, "YAML file with settings (keys are the flag names); flags override it")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "HOST:PORT to serve /metrics, /healthz and /readyz on")
	fs.StringSliceVar(&c.Probes, "probes", c.Probes, `probes to run, by name; "default" is the default set, "all" every probe`)
	fs.StringSliceVar(&c.DisableProbes, "disable-probes", c.DisableProbes, "probes not to run, by name")
	fs.StringVar(&c.CgroupRoot, "cgroup-root", c.CgroupRoot, "cgroup2 mount point (found in /proc/self/mountinfo when empty)")
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM certificate: serve TLS on --metrics-addr (and a TCP --api-addr without --api-tls-cert); read again when it changes")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM private key of --tls-cert")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", c.TLSClientCA, "PEM CA bundle: require client certificates signed by it on --metrics-addr (mTLS)")
	fs.DurationVar(&c.GoneGrace, "gone-grace", c.GoneGrace, "how long series of a removed workload are kept")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.BoolVar(&c.BPFStats, "bpf-stats", c.BPFStats, "turn on the kernel's BPF run-time statistics for orb8_bpf_program_run_seconds_total (needs CAP_SYS_ADMIN; every BPF program on the node then pays two clock reads per run)")
	fs.BoolVar(&c.MemoryPageAllocations, "memory-page-allocations", c.MemoryPageAllocations, "count page allocations per workload and process (memory probe; costs ~100 ns more per page fault, see docs/benchmarks.md)")
	c.API.bindFlags(fs)
	c.Kube.bindFlags(fs)
	c.GPU.bindFlags(fs)
	c.SyscallTracing.bindFlags(fs)
	c.Export.bindFlags(fs)
}

// Resolve applies the --config file under the flags the user set: defaults,
// then the file, then explicit flags. fs must be bound to c.
func (c *Config) Resolve(fs *pflag.FlagSet) error {
	if c.ConfigFile == "" {
		return nil
	}
	scalars := map[string]string{}
	lists := map[string][]string{}
	fs.Visit(func(f *pflag.Flag) {
		if sv, ok := f.Value.(pflag.SliceValue); ok {
			lists[f.Name] = sv.GetSlice()
		} else {
			scalars[f.Name] = f.Value.String()
		}
	})
	file := c.ConfigFile
	*c = Default()
	if err := c.loadFile(file); err != nil {
		return err
	}
	c.ConfigFile = file
	for name, v := range scalars {
		if err := fs.Set(name, v); err != nil {
			return err
		}
	}
	for name, v := range lists {
		if err := fs.Lookup(name).Value.(pflag.SliceValue).Replace(v); err != nil {
			return err
		}
	}
	return nil
}

func (c *Config) loadFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	if err := dec.Decode(c); err != nil && !errors.Is(err, io.EOF) {
		return fmt.Errorf("config %s: %s", path, humanize.OneLine(err.Error()))
	}
	return nil
}

// Validate checks every setting; known lists the probe names that exist.
func (c *Config) Validate(known []string) error {
	if err := checkAddr("metrics-addr", c.MetricsAddr); err != nil {
		return err
	}
	if err := c.API.validate(c.TLSCert != ""); err != nil {
		return err
	}
	names := append(append([]string{}, c.Probes...), c.DisableProbes...)
	for _, n := range names {
		if n != "default" && n != "all" && !slices.Contains(known, n) {
			return fmt.Errorf("unknown probe %q: known probes are %s", n, strings.Join(known, ", "))
		}
	}
	if (c.TLSCert == "") != (c.TLSKey == "") {
		return fmt.Errorf("--tls-cert and --tls-key go together: set both or neither")
	}
	if c.TLSClientCA != "" && c.TLSCert == "" {
		return fmt.Errorf("--tls-client-ca needs --tls-cert and --tls-key")
	}
	if c.GoneGrace < 0 {
		return fmt.Errorf("--gone-grace must not be negative")
	}
	if err := c.Kube.validate(); err != nil {
		return err
	}
	if err := c.GPU.validate(); err != nil {
		return err
	}
	if err := c.SyscallTracing.validate(); err != nil {
		return err
	}
	if err := c.Export.validate(); err != nil {
		return err
	}
	switch c.LogLevel {
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("invalid --log-level %q: want debug, info, warn or error", c.LogLevel)
	}
	return nil
}

// examplePort is each listener's default port, for error messages.
var examplePort = map[string]string{"metrics-addr": "9808", "otlp-endpoint": "4317"}

// checkAddr accepts HOST:PORT with an optional host and a numeric port.
func checkAddr(flag, addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err == nil {
		var n int
		n, err = strconv.Atoi(port)
		if err == nil && (n < 0 || n > 65535) {
			err = errors.New("port out of range")
		}
	}
	if err != nil {
		return fmt.Errorf("invalid --%s %q: want HOST:PORT, e.g. :%s or 127.0.0.1:%s", flag, addr, examplePort[flag], examplePort[flag])
	}
	return nil
}

// EnabledProbes expands the probe settings into the names to run, in the
// order of known. defaults is the default set.
func (c *Config) EnabledProbes(known, defaults []string) []string {
	want := map[string]bool{}
	for _, n := range c.Probes {
		switch n {
		case "default":
			for _, d := range defaults {
				want[d] = true
			}
		case "all":
			for _, k := range known {
				want[k] = true
			}
		default:
			want[n] = true
		}
	}
	for _, n := range c.DisableProbes {
		delete(want, n)
	}
	var out []string
	for _, k := range known {
		if want[k] {
			out = append(out, k)
		}
	}
	return out
}
