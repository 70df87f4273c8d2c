package fds

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

const (
	testInterval = 100 * time.Millisecond
	testWindow   = 20 // 2 s of scans
)

// start starts the probe; the workloads of the hide cgroup paths are hidden
// as the agent's filters hide excluded pods.
func start(t *testing.T, hide ...string) prometheus.Gatherer {
	t.Helper()
	testutil.RequireRoot(t)
	res := testutil.Resolver(t)
	res.SetEnricher(testutil.Hide(hide))
	p := New()
	p.interval, p.window = testInterval, testWindow
	if err := p.Start(context.Background(), probe.Env{Resolver: res, Log: slog.Default(), CgroupRoot: res.Root()}); err != nil {
		t.Fatalf("start fds probe: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(testutil.Collector(t, p))
	return reg
}

// lazy formats as what its function returns when the message is written.
type lazy func() string

func (l lazy) String() string { return l() }

// waitFor polls until metric name of the cgroup equals want.
func waitFor(t *testing.T, g prometheus.Gatherer, name, cgroupPath string, timeout time.Duration, want func() float64) {
	t.Helper()
	var v float64
	testutil.Eventually(t, timeout, func() bool {
		var ok bool
		v, ok = testutil.Sample(t, g, name, map[string]string{"cgroup": cgroupPath})
		return ok && v == want()
	}, "%s{cgroup=%q} = %v, want %v; series: %s", name, cgroupPath, lazy(func() string { return fmt.Sprint(v) }),
		lazy(func() string { return fmt.Sprint(want()) }), lazy(func() string { return testutil.Series(t, g, name) }))
}

func TestOpenFDsOfAProcessHolding300Files(t *testing.T) {
	g := start(t)
	cg := testutil.NewCgroup(t)
	h := holdFiles(t, cg, 300, 1000, 0, true)
	// The kernel's count is exactly what procfs lists: the 300 files and
	// the Go runtime's few (stdio, epoll).
	waitFor(t, g, "orb8_open_fds", cg.Path, 2*time.Second, func() float64 { return float64(h.openFDs(t)) })
	if n := h.openFDs(t); n < 300 || n > 399 {
		t.Fatalf("helper holds %d fds, want 300..399", n)
	}
	waitFor(t, g, "orb8_fd_limit", cg.Path, time.Second, func() float64 { return 1000 })
	// Holding steady is no leak, even once the whole window has seen it.
	time.Sleep(testWindow * testInterval)
	waitFor(t, g, "orb8_fd_leak_suspected", cg.Path, time.Second, func() float64 { return 0 })
}

func TestFDLimitOfTheProcessNearestToIt(t *testing.T) {
	g := start(t)
	cg := testutil.NewCgroup(t)
	far := holdFiles(t, cg, 300, 1000, 0, true) // about 30% of its limit
	near := holdFiles(t, cg, 40, 64, 0, true)   // about 70% of its limit
	waitFor(t, g, "orb8_open_fds", cg.Path, 2*time.Second, func() float64 { return float64(far.openFDs(t) + near.openFDs(t)) })
	waitFor(t, g, "orb8_fd_limit", cg.Path, time.Second, func() float64 { return 64 })
}

func TestSteadyGrowthIsALeakUntilItStops(t *testing.T) {
	g := start(t)
	cg := testutil.NewCgroup(t)
	// One more file every 50 ms for 4 s, then holding.
	holdFiles(t, cg, 80, 1000, 50*time.Millisecond, false)
	waitFor(t, g, "orb8_fd_leak_suspected", cg.Path, 4*time.Second, func() float64 { return 1 })
	waitFor(t, g, "orb8_fd_leak_suspected", cg.Path, 5*time.Second, func() float64 { return 0 })
}

func TestHiddenWorkloadHasNoSeries(t *testing.T) {
	hidden := testutil.NewCgroup(t)
	g := start(t, hidden.Path)
	shown := testutil.NewCgroup(t)
	holdFiles(t, hidden, 30, 1000, 0, true)
	h := holdFiles(t, shown, 30, 1000, 0, true)
	// The scan that counts the shown helper's files also saw the hidden one's.
	waitFor(t, g, "orb8_open_fds", shown.Path, 2*time.Second, func() float64 { return float64(h.openFDs(t)) })
	for _, name := range []string{"orb8_open_fds", "orb8_fd_limit", "orb8_fd_leak_suspected"} {
		if v, ok := testutil.Sample(t, g, name, map[string]string{"cgroup": hidden.Path}); ok {
			t.Errorf("%s of a hidden workload = %v, want no series", name, v)
		}
	}
}
