package agent

import (
	"slices"
	"strings"
	"testing"

	"github.com/spf13/pflag"

	"github.com/orb8/orb8/internal/probes/syscalls"
	"github.com/orb8/orb8/internal/testutil"
)

// parse binds a fresh configuration to flags, parses args and resolves the file.
func parse(t *testing.T, args ...string) (Config, error) {
	t.Helper()
	c := DefaultConfig()
	fs := pflag.NewFlagSet("test", pflag.ContinueOnError)
	c.BindFlags(fs)
	if err := fs.Parse(args); err != nil {
		return c, err
	}
	if err := c.Resolve(fs); err != nil {
		return c, err
	}
	return c, c.Validate()
}

// A probe family's own flags come from defaults, the file and the command
// line like the agent's.
func TestSyscallsFromDefaultsFileAndFlags(t *testing.T) {
	c, err := parse(t)
	if err != nil || !slices.Equal(c.Syscalls.Syscalls, syscalls.DefaultOptions().Syscalls) {
		t.Fatalf("default syscalls = %v (%v), want %v", c.Syscalls.Syscalls, err, syscalls.DefaultOptions().Syscalls)
	}
	p := testutil.TempFile(t, "orb8.yaml", "syscalls: [read, write]\n")
	if c, err = parse(t, "--config", p); err != nil || !slices.Equal(c.Syscalls.Syscalls, []string{"read", "write"}) {
		t.Fatalf("from file: %v (%v)", c.Syscalls.Syscalls, err)
	}
	if c, err = parse(t, "--config", p, "--syscalls", "openat,connect"); err != nil || !slices.Equal(c.Syscalls.Syscalls, []string{"openat", "connect"}) {
		t.Fatalf("flag over file: %v (%v)", c.Syscalls.Syscalls, err)
	}
	for args, want := range map[string]string{
		"--syscalls=openat,opne": `--syscalls: unknown syscall "opne"`,
		"--syscalls=exit_group":  "never returns",
	} {
		_, err := parse(t, args)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", args, err, want)
		}
	}
}

// Every probe family's settings are checked, and the file reaches them.
func TestProbeOptionsAreValidated(t *testing.T) {
	for args, want := range map[string]string{
		"--nvml-interval=10ms":            "--nvml-interval 10ms is too short",
		"--cuda-leak-window=1s":           "--cuda-leak-window 1s is too short",
		"--memory-page-allocations=maybe": "invalid argument",
	} {
		_, err := parse(t, args)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", args, err, want)
		}
	}
	c, err := parse(t, "--config", testutil.TempFile(t, "orb8.yaml", "memory-page-allocations: true\nnvml-interval: 2s\n"))
	if err != nil || !c.Memory.PageAllocations || c.NVML.Interval.Seconds() != 2 {
		t.Errorf("from file: page allocations %v, nvml interval %s (%v)", c.Memory.PageAllocations, c.NVML.Interval, err)
	}
}

// Metric shaping comes from flags and the config file's metrics key, and
// every name, level, label and bucket is checked.
func TestMetricShapingSettings(t *testing.T) {
	file := testutil.TempFile(t, "orb8.yaml", `aggregation: owner
disable-metrics: [orb8_fd_limit]
metrics:
  orb8_dns_queries_total:
    aggregation: namespace
    drop-labels: [qtype]
  orb8_sched_runqueue_latency_seconds:
    buckets: [0.000016, 0.001024]
    native: true
  orb8_open_fds:
    enabled: false
`)
	c, err := parse(t, "--config", file, "--enable-metrics", "orb8_fd_limit", "--native-histograms", "orb8_syscall_latency_seconds")
	if err != nil {
		t.Fatal(err)
	}
	s := c.Shaping()
	if s.Aggregation.String() != "owner" || !slices.Equal(s.Disable, []string{"orb8_fd_limit"}) || !slices.Equal(s.Enable, []string{"orb8_fd_limit"}) ||
		s.Families["orb8_dns_queries_total"].Aggregation != "namespace" || *s.Families["orb8_open_fds"].Enabled ||
		!slices.Equal(s.Families["orb8_sched_runqueue_latency_seconds"].Buckets, []float64{0.000016, 0.001024}) ||
		!*s.Families["orb8_sched_runqueue_latency_seconds"].Native || !slices.Equal(s.Native, []string{"orb8_syscall_latency_seconds"}) {
		t.Errorf("got %+v", s)
	}
	for _, tc := range []struct{ args, want string }{
		{"--aggregation=cluster", `--aggregation: unknown aggregation "cluster": want one of cgroup, container, pod, owner, namespace, node`},
		{"--disable-metrics=orb8_open_fd", `--disable-metrics: unknown metric "orb8_open_fd"`},
		{"--enable-metrics=orb8_nope", `--enable-metrics: unknown metric "orb8_nope"`},
		{"metrics:\n  orb8_nope: {enabled: false}\n", `unknown metric "orb8_nope"`},
		{"metrics:\n  orb8_dns_queries_total: {drop-labels: [namespace]}\n", "the family's own labels are qtype"},
		{"metrics:\n  orb8_dns_queries_total: {dorp-labels: [qtype]}\n", "field dorp-labels not found"},
		{"metrics:\n  orb8_probe_up: {aggregation: node}\n", "not a per-workload family"},
		{"metrics:\n  orb8_tcp_rtt_seconds: {buckets: [0.001]}\n", "0.001 is not one of the bounds"},
		{"metrics: [a]\n", "want metric names"},
		{"--native-histograms=orb8_dns_latency_seconds", "--native-histograms: orb8_dns_latency_seconds: only log2 histograms can be native (orb8_grpc_request_duration_seconds, orb8_http_request_duration_seconds, orb8_sched_runqueue_latency_seconds, orb8_syscall_latency_seconds, orb8_tcp_rtt_seconds)"},
		{"--native-histograms=orb8_nope", `--native-histograms: unknown metric "orb8_nope"`},
		{"metrics:\n  orb8_process_exec_total: {native: true}\n", "orb8_process_exec_total: native: only log2 histograms can be native"},
		{"metrics:\n  orb8_tcp_rtt_seconds: {native: yes please}\n", "cannot unmarshal"},
	} {
		args := []string{tc.args}
		if strings.HasPrefix(tc.args, "metrics:") {
			args = []string{"--config", testutil.TempFile(t, "orb8.yaml", tc.args)}
		}
		_, err := parse(t, args...)
		if err == nil || !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error %v, want one line with %q", tc.args, err, tc.want)
		}
	}
}
