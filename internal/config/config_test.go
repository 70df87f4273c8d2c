package config

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/spf13/pflag"

	"github.com/orb8/orb8/internal/testutil"
)

var known = []string{"cgroup", "process", "sched"}

// parse binds a fresh config to flags, parses args and resolves the file.
func parse(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	c := Default()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := c.Resolve(fs); err != nil {
		return c, err
	}
	return c, c.Validate(known)
}

func TestFlagsOverrideFileOverridesDefaults(t *testing.T) {
	p := testutil.TempFile(t, "orb8.yaml", "metrics-addr: 127.0.0.1:7000\nprobes: [process, sched]\ngone-grace: 30s\nlog-level: debug\n")
	c, err := parse(t, "--config", p, "--log-level", "warn", "--disable-probes", "sched")
	if err != nil {
		t.Fatal(err)
	}
	if c.MetricsAddr != "127.0.0.1:7000" || c.LogLevel != "warn" || c.GoneGrace != 30*time.Second {
		t.Fatalf("got %+v", c)
	}
	if got := c.EnabledProbes(known, []string{"cgroup"}); !slices.Equal(got, []string{"process"}) {
		t.Fatalf("EnabledProbes = %v, want [process]", got)
	}
	c, err = parse(t, "--config", p, "--probes", "cgroup")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(c.Probes, []string{"cgroup"}) {
		t.Fatalf("--probes did not override the file: %v", c.Probes)
	}
}

func TestEnabledProbes(t *testing.T) {
	c := Default()
	if got := c.EnabledProbes(known, []string{"process", "cgroup"}); !slices.Equal(got, []string{"cgroup", "process"}) {
		t.Fatalf("default = %v", got)
	}
	c.Probes = []string{"all"}
	c.DisableProbes = []string{"cgroup"}
	if got := c.EnabledProbes(known, nil); !slices.Equal(got, []string{"process", "sched"}) {
		t.Fatalf("all minus cgroup = %v", got)
	}
}

func TestBadInputIsAOneLineError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "absent.yaml")
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"address without port", []string{"--metrics-addr", "not-an-address"}, `invalid --metrics-addr "not-an-address"`},
		{"port out of range", []string{"--metrics-addr", ":70000"}, "invalid --metrics-addr"},
		{"port not a number", []string{"--metrics-addr", "localhost:http-ish"}, "invalid --metrics-addr"},
		{"unknown probe", []string{"--probes", "nope"}, `unknown probe "nope"`},
		{"unknown disabled probe", []string{"--disable-probes", "nope"}, `unknown probe "nope"`},
		{"cert without key", []string{"--tls-cert", "c.pem"}, "--tls-cert and --tls-key go together"},
		{"client CA without cert", []string{"--tls-client-ca", "ca.pem"}, "--tls-client-ca needs"},
		{"bad log level", []string{"--log-level", "loud"}, `invalid --log-level "loud"`},
		{"negative grace", []string{"--gone-grace", "-1s"}, "--gone-grace must not be negative"},
		{"unreadable config", []string{"--config", missing}, "read config"},
		{"unknown key", []string{"--config", testutil.TempFile(t, "orb8.yaml", "metrics-adr: :1\n")}, "field metrics-adr not found"},
		{"wrong type", []string{"--config", testutil.TempFile(t, "orb8.yaml", "probes: 3\n")}, "config"},
		{"not yaml", []string{"--config", testutil.TempFile(t, "orb8.yaml", "{{{{\n")}, "config"},
		{"bad duration in file", []string{"--config", testutil.TempFile(t, "orb8.yaml", "gone-grace: soon\n")}, "config"},
		{"audit log of nothing", []string{"--audit-log", "/tmp/a.log"}, "--audit-log records policy matches and anomalies"},
		{"learning too short", []string{"--anomaly-detection", "--anomaly-learning", "10ms"}, "--anomaly-learning 10ms is too short"},
		{"bad cluster name", []string{"--cluster-name", "prod eu"}, `--cluster-name: invalid cluster name "prod eu"`},
		{"cluster name with a quote", []string{"--cluster-name", `a"b`}, "--cluster-name: invalid cluster name"},
		{"no state dir", []string{"--anomaly-detection", "--state-dir", ""}, "--anomaly-detection keeps its profiles in --state-dir"},
		{"minute too short", []string{"--anomaly-detection", "--anomaly-minute", "1ms"}, "--anomaly-minute 1ms is too short"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parse(t, tt.args...)
			if err == nil {
				t.Fatalf("no error for %v", tt.args)
			}
			if !strings.Contains(err.Error(), tt.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line containing %q", err, tt.want)
			}
		})
	}
}

func TestEmptyConfigFileIsDefaults(t *testing.T) {
	c, err := parse(t, "--config", testutil.TempFile(t, "orb8.yaml", ""))
	if err != nil {
		t.Fatal(err)
	}
	d := Default()
	if c.MetricsAddr != d.MetricsAddr || !slices.Equal(c.Probes, d.Probes) {
		t.Fatalf("got %+v", c)
	}
}

// FuzzConfigFile: any --config file either loads and validates or gives a
// one-line error (YAML aliases, wrong types, unknown keys); nothing panics.
func FuzzConfigFile(f *testing.F) {
	for _, seed := range []string{"", "metrics-addr: :9808\nprobes: [process, dns]\n", "gone-grace: 1m\n", "probes: 3\n",
		"{{{{\n", "metrics-adr: :1\n", "otlp-endpoint: collector:4317\n", "- a\n- b\n", "a: &a [*a, *a]\n", "probes: &p [a, *p]\n",
		"native-histograms: [all]\nmetrics:\n  orb8_tcp_rtt_seconds: {native: false}\n"} {
		f.Add(seed)
	}
	path := filepath.Join(f.TempDir(), "orb8.yaml")
	f.Fuzz(func(t *testing.T, body string) {
		if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := parse(t, "--config", path); err != nil && strings.Contains(err.Error(), "\n") {
			t.Fatalf("error of more than one line: %q", err)
		}
	})
}

// Anomaly detection: off by default, 24h of learning in /var/lib/orb8;
// it makes audit records, so --audit-log needs nothing else.
func TestAnomalyDetectionSettings(t *testing.T) {
	c, err := parse(t)
	if err != nil || c.AnomalyDetection || c.AnomalyLearning != 24*time.Hour || c.AnomalyMinute != time.Minute || c.StateDir != "/var/lib/orb8" {
		t.Fatalf("defaults: %+v, %v", c.Anomaly, err)
	}
	c, err = parse(t, "--anomaly-detection", "--anomaly-learning", "20s", "--anomaly-minute", "100ms", "--state-dir", "/tmp/s", "--audit-log", "-")
	if err != nil || !c.AnomalyDetection || c.AnomalyLearning != 20*time.Second || c.AnomalyMinute != 100*time.Millisecond || c.StateDir != "/tmp/s" || !c.Audited() {
		t.Fatalf("%+v, %v", c.Anomaly, err)
	}
}
