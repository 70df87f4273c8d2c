package e2e

import (
	"fmt"
	"testing"

	"github.com/orb8/orb8/internal/agent"
	"github.com/orb8/orb8/internal/probes/cgroups"
	"github.com/orb8/orb8/internal/probes/syscalls"
	"github.com/orb8/orb8/internal/testutil"
)

// TestPrometheusNativeHistogramCountsExactly: a real Prometheus with native
// histograms on scrapes an agent whose execve latency is a native
// histogram (--native-histograms), and PromQL's histogram_count over it is
// exactly the execve calls a test cgroup made; histogram_sum is the sum
// the classic histogram carries too.
func TestPrometheusNativeHistogramCountsExactly(t *testing.T) {
	requirePrometheus(t)
	cfg := agent.DefaultConfig()
	cfg.Probes = []string{cgroups.Name, syscalls.Name}
	cfg.Syscalls = syscalls.Options{Syscalls: []string{"execve"}}
	cfg.NativeHistograms = []string{"orb8_syscall_latency_seconds"}
	// Prometheus 2.40 to 2.x: the feature flag makes it ask for protobuf
	// and keep native histograms.
	prom := startPrometheus(t, startAgentConfig(t, cfg), "--enable-feature=native-histograms")

	cg := testutil.NewCgroup(t)
	const execs = 17 // each /bin/true run is one execve in the cgroup
	for range execs {
		cg.Run(t, "/bin/true")
	}
	series := fmt.Sprintf(`orb8_syscall_latency_seconds{cgroup=%q,syscall="execve"}`, cg.Path)
	prom.waitExact(t, "histogram_count("+series+")", execs)

	// Stored as a native histogram, not as classic series: no _count series.
	if classic := prom.query(t, fmt.Sprintf(`orb8_syscall_latency_seconds_count{cgroup=%q}`, cg.Path)); len(classic) != 0 {
		t.Errorf("classic series stored beside the native histogram: %+v", classic)
	}
	sum := prom.query(t, "histogram_sum("+series+")")
	if len(sum) != 1 || sum[0].value <= 0 || sum[0].value > execs {
		t.Errorf("histogram_sum = %+v, want the execs' total latency in seconds", sum)
	}
	// Every execve takes over 2 us: none in the zero bucket, so the
	// fraction below the zero threshold is 0 and below 128 s all of them.
	for q, want := range map[string]float64{
		"histogram_fraction(0, 0.0000019073486328125, " + series + ")": 0,
		"histogram_fraction(0, 128, " + series + ")":                   1,
	} {
		if got := prom.query(t, q); len(got) != 1 || got[0].value != want {
			t.Errorf("%s = %+v, want %v", q, got, want)
		}
	}
}
