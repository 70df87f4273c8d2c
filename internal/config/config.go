// Package config holds the agent's settings: defaults, a YAML file, and flags
// that override the file.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"
	"go.yaml.in/yaml/v3"

	"github.com/orb8/orb8/internal/humanize"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
)

// Config is the agent's configuration; a --config file sets its flags.
type Config struct {
	ConfigFile    string
	MetricsAddr   string
	Probes        []string
	DisableProbes []string
	CgroupRoot    string
	// CgroupHierarchy: auto, unified or v1 (cgroup.FindHierarchy).
	CgroupHierarchy string
	TLSCert         string
	TLSKey          string
	TLSClientCA     string
	GoneGrace       time.Duration
	LogLevel        string
	// BPFStats turns on the kernel's BPF run-time statistics: off by default,
	// as they cost every BPF program on the node (the CNI's included) two
	// clock reads per run.
	BPFStats bool
	// MaxOverhead: the share of the node's CPU the agent may cost (the
	// governor sheds records past it), and of one CPU it may add to a
	// traced process (probe.Env.MaxOverhead).
	MaxOverhead float64
	// PolicyDir holds security policy YAML files, watched; empty: none.
	PolicyDir string
	// KubePolicies enforces the ClusterSecurityPolicy and SecurityPolicy
	// objects of the Kubernetes API, watched.
	KubePolicies bool
	// AuditLog is where policy matches go as JSON lines ("-": stdout);
	// empty: nowhere but the event stream and the metrics.
	AuditLog string
	// AuditLogMaxBytes rotates the audit log: past it, the file becomes
	// AuditLog.1 (replacing the one before) and a new file starts.
	AuditLogMaxBytes int64
	API
	Kube
	Export
	Anomaly
}

// Policies reports whether security policies are enforced: from files, from
// the Kubernetes API, or both.
func (c *Config) Policies() bool { return c.PolicyDir != "" || c.KubePolicies }

// Audited reports whether anything writes audit records: policies, or
// anomaly detection.
func (c *Config) Audited() bool { return c.Policies() || c.AnomalyDetection }

// Default is the configuration with nothing set.
func Default() Config {
	return Config{
		MetricsAddr:      ":9808",
		API:              defaultAPI(),
		Probes:           []string{"default"},
		CgroupHierarchy:  "auto",
		GoneGrace:        5 * time.Minute,
		MaxOverhead:      probe.DefaultMaxOverhead,
		AuditLogMaxBytes: 100 << 20,
		LogLevel:         "info",
		Kube:             Kube{NodeName: defaultNodeName()},
		Export:           defaultExport(),
		Anomaly:          defaultAnomaly(),
	}
}

// BindFlags registers every setting as a flag on fs, writing into c.
func (c *Config) BindFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.ConfigFile, "config", c.ConfigFile, "YAML file with settings (keys are the flag names); flags override it")
	fs.StringVar(&c.MetricsAddr, "metrics-addr", c.MetricsAddr, "HOST:PORT to serve /metrics, /healthz and /readyz on")
	fs.StringSliceVar(&c.Probes, "probes", c.Probes, `probes to run, by name; "default" is the default set, "all" every probe`)
	fs.StringSliceVar(&c.DisableProbes, "disable-probes", c.DisableProbes, "probes not to run, by name")
	fs.StringVar(&c.CgroupRoot, "cgroup-root", c.CgroupRoot, "mount point of the cgroup hierarchy workloads are read from (found in /proc/self/mountinfo when empty)")
	fs.StringVar(&c.CgroupHierarchy, "cgroup-hierarchy", c.CgroupHierarchy, `cgroup hierarchy that names workloads: "unified" (cgroup v2), "v1" (the v1 memory controller's, for hosts whose runtime puts containers only in v1 cgroups) or "auto" (unified when mounted)`)
	fs.StringVar(&c.TLSCert, "tls-cert", c.TLSCert, "PEM certificate: serve TLS on --metrics-addr (and a TCP --api-addr without --api-tls-cert); read again when it changes")
	fs.StringVar(&c.TLSKey, "tls-key", c.TLSKey, "PEM private key of --tls-cert")
	fs.StringVar(&c.TLSClientCA, "tls-client-ca", c.TLSClientCA, "PEM CA bundle: require client certificates signed by it on --metrics-addr (mTLS)")
	fs.DurationVar(&c.GoneGrace, "gone-grace", c.GoneGrace, "how long series of a removed workload are kept")
	fs.StringVar(&c.LogLevel, "log-level", c.LogLevel, "debug, info, warn or error")
	fs.BoolVar(&c.BPFStats, "bpf-stats", c.BPFStats, "turn on the kernel's BPF run-time statistics for orb8_bpf_program_run_seconds_total (needs CAP_SYS_ADMIN; every BPF program on the node then pays two clock reads per run)")
	fs.Float64Var(&c.MaxOverhead, "max-overhead", c.MaxOverhead, "the share of CPU the agent may cost: of the node's CPUs for its own work and BPF programs (over it, DNS messages and connection records are sampled, orb8_sampling_ratio; kernel counters stay exact), and of one CPU for each process it traces through uprobes (CUDA launches and GEMMs, sampled per process; --cuda-exact counts them all); 0.01 is 1%")
	fs.StringVar(&c.PolicyDir, "policy-dir", c.PolicyDir, "directory of security policy YAML files (ClusterSecurityPolicy, SecurityPolicy), enforced in the kernel; watched: a changed file applies within 2 s, a bad one is reported and skipped")
	fs.BoolVar(&c.KubePolicies, "kube-policies", c.KubePolicies, "enforce the ClusterSecurityPolicy and SecurityPolicy objects of the Kubernetes API (CRDs of the chart), watched: a change applies within 2 s; the agent reports in their status whether this node enforces them")
	fs.StringVar(&c.AuditLog, "audit-log", c.AuditLog, `file to append every policy match and anomaly to, one JSON object per line ("-": standard output)`)
	fs.Int64Var(&c.AuditLogMaxBytes, "audit-log-max-bytes", c.AuditLogMaxBytes, "size past which --audit-log is rotated to PATH.1")
	c.API.bindFlags(fs)
	c.Kube.bindFlags(fs)
	c.Export.bindFlags(fs)
	c.Anomaly.bindFlags(fs)
}

// Resolve applies the --config file under the flags the user set: defaults,
// then the file, then explicit flags. The file's keys are flag names, so
// every flag bound on fs can be set there, whoever owns it (probe families
// bind their own); an unknown key is an error.
func (c *Config) Resolve(fs *pflag.FlagSet) error {
	if c.ConfigFile == "" {
		return nil
	}
	return c.applyFile(fs, c.ConfigFile)
}

// applyFile sets the flags a YAML file names, but for those set on the
// command line: a scalar for a plain flag, a list for a list flag.
func (c *Config) applyFile(fs *pflag.FlagSet, path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		return fmt.Errorf("config %s: %s", path, humanize.OneLine(err.Error()))
	}
	if len(doc.Content) == 0 { // an empty file
		return nil
	}
	top := doc.Content[0]
	if top.Kind != yaml.MappingNode {
		return fmt.Errorf("config %s: line %d: want settings as key: value", path, top.Line)
	}
	for i := 0; i+1 < len(top.Content); i += 2 {
		key, value := top.Content[i], top.Content[i+1]
		apply := applySetting
		if key.Value == metricsKey {
			apply = c.applyMetrics
		}
		if err := apply(fs, key.Value, value); err != nil {
			return fmt.Errorf("config %s: line %d: %s", path, key.Line, humanize.OneLine(err.Error()))
		}
	}
	return nil
}

// metricsKey holds per-family settings in the config file, the one key
// that is not a flag: a map from family name to its FamilyShape.
const metricsKey = "metrics"

func (c *Config) applyMetrics(_ *pflag.FlagSet, _ string, value *yaml.Node) error {
	if value.Tag == "!!null" {
		return nil
	}
	if value.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: want metric names, each with its settings (aggregation, drop-labels, buckets, native, enabled)", metricsKey)
	}
	// Decode through a strict decoder: a misspelt setting is an error.
	raw, err := yaml.Marshal(value)
	if err != nil {
		return err
	}
	dec := yaml.NewDecoder(bytes.NewReader(raw))
	dec.KnownFields(true)
	var m map[string]series.FamilyShape
	if err := dec.Decode(&m); err != nil {
		return fmt.Errorf("%s: %s (settings are aggregation, drop-labels, buckets, native, enabled)", metricsKey, err)
	}
	c.Metrics = m
	return nil
}

func applySetting(fs *pflag.FlagSet, name string, value *yaml.Node) error {
	f := fs.Lookup(name)
	switch {
	case f == nil || name == "config":
		return fmt.Errorf("field %s not found: keys are the agent's flag names", name)
	case fs.Changed(name) || value.Tag == "!!null":
		return nil // the command line wins; a key without a value keeps the default
	}
	if list, ok := f.Value.(pflag.SliceValue); ok {
		if value.Kind != yaml.SequenceNode {
			return fmt.Errorf("%s: want a list", name)
		}
		items := make([]string, len(value.Content))
		for i, item := range value.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("%s: want a list of values", name)
			}
			items[i] = item.Value
		}
		return list.Replace(items)
	}
	if value.Kind != yaml.ScalarNode {
		return fmt.Errorf("%s: want a single value", name)
	}
	return f.Value.Set(value.Value)
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
	if c.AuditLog != "" && !c.Audited() {
		return fmt.Errorf("--audit-log records policy matches and anomalies: it needs --policy-dir, --kube-policies or --anomaly-detection")
	}
	if c.AuditLogMaxBytes < 1<<10 {
		return fmt.Errorf("--audit-log-max-bytes %d is too small: use at least 1024", c.AuditLogMaxBytes)
	}
	if c.MaxOverhead <= 0 || c.MaxOverhead > 1 {
		return fmt.Errorf("--max-overhead %g is out of range: use a share of one CPU above 0 and at most 1 (0.01 is 1%%)", c.MaxOverhead)
	}
	if c.GoneGrace < 0 {
		return fmt.Errorf("--gone-grace must not be negative")
	}
	if err := c.Kube.validate(); err != nil {
		return err
	}
	if err := c.Export.validate(); err != nil {
		return err
	}
	if err := c.Anomaly.validate(); err != nil {
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
