package sched

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/testutil"
)

const metric = "orb8_sched_runqueue_latency_seconds"

// envFor is what the agent hands the probe, with a resolver of the test's own.
func envFor(t *testing.T) probe.Env {
	res := testutil.Resolver(t)
	return probe.Env{Resolver: res, Events: events.NewBus(), Log: slog.Default(), CgroupRoot: res.Root()}
}

func start(t *testing.T, p *Probe) *prometheus.Registry {
	t.Helper()
	testutil.RequireRoot(t)
	if err := p.Start(context.Background(), envFor(t)); err != nil {
		t.Fatalf("start sched probe: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(testutil.Collector(t, p))
	return reg
}

// hog runs n busy loops in cg for d; they are killed after the test.
func hog(t *testing.T, cg *testutil.Cgroup, n int, d time.Duration) []*os.Process {
	t.Helper()
	var ps []*os.Process
	for range n {
		cmd := cg.Command(t, "/bin/sh", "-c", "while :; do :; done")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		ps = append(ps, cmd.Process)
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	}
	time.Sleep(d)
	return ps
}

func histogram(t *testing.T, reg prometheus.Gatherer, cg *testutil.Cgroup) *dto.Histogram {
	t.Helper()
	h := testutil.Histogram(t, reg, metric, map[string]string{"cgroup": cg.Path})
	if h == nil {
		t.Fatalf("no %s for %s; series: %s", metric, cg.Path, testutil.Series(t, reg, metric))
	}
	return h
}

// histogramOn is the probe with the opt-in per-switch histogram.
func histogramOn() *Probe { return New(Options{RunqueueHistogram: true}) }

func TestHogsWaitIdleDoesNot(t *testing.T) {
	p := histogramOn()
	hogsWaitIdleDoesNot(t, p)
	if p.bpf.HandleSwitch == nil {
		t.Fatalf("the kernel's run-queue stamps were not used: %v", p.Objects().Failed)
	}
}

func TestFallbackHogsWaitIdleDoesNot(t *testing.T) {
	p := histogramOn()
	p.tuneSpec = func(s *ebpf.CollectionSpec) { delete(s.Programs, "handle_switch") }
	hogsWaitIdleDoesNot(t, p)
	if p.bpf.FallbackSwitch == nil {
		t.Fatalf("the fallback did not load: %v", p.Objects().Failed)
	}
}

func hogsWaitIdleDoesNot(t *testing.T, p *Probe) {
	reg := start(t, p)
	busy, idle := testutil.NewCgroup(t), testutil.NewCgroup(t)
	sleeper := idle.Command(t, "/bin/sleep", "1.5")
	if err := sleeper.Start(); err != nil {
		t.Fatal(err)
	}
	// Six always-runnable loops on two CPUs for 1.5 s: at every moment at
	// least four wait, so together they wait about 6 s.
	const hogs, runFor = 6, 1500 * time.Millisecond
	hog(t, busy, hogs, runFor)
	sleeper.Wait()

	b := histogram(t, reg, busy)
	// A sleeper that never waited for a CPU has no histogram: zero waits.
	i := testutil.Histogram(t, reg, metric, map[string]string{"cgroup": idle.Path})
	if i == nil {
		i = &dto.Histogram{}
	}
	t.Logf("busy: %d waits, %.3f s; idle: %d waits, %.6f s", b.GetSampleCount(), b.GetSampleSum(), i.GetSampleCount(), i.GetSampleSum())
	if b.GetSampleCount() == 0 || b.GetSampleSum() < 0.005 {
		t.Fatalf("busy cgroup waited %d times, %.6f s in all; want waits summing to 5 ms or more", b.GetSampleCount(), b.GetSampleSum())
	}
	// Tighter, to catch a unit error: 4 waiting of 6 for 1.5 s is 6 s; no
	// loop can wait longer than it lived.
	if sum := b.GetSampleSum(); sum < 2 || sum > hogs*runFor.Seconds()+1 {
		t.Fatalf("busy cgroup waited %.3f s in all; want 2..%.0f s", sum, hogs*runFor.Seconds()+1)
	}
	// The sleeper waits a few times only (each wait can be long on a loaded host).
	if i.GetSampleSum() > b.GetSampleSum()/10 {
		t.Fatalf("idle cgroup waited %.6f s, not much less than the busy one's %.3f s", i.GetSampleSum(), b.GetSampleSum())
	}
	checkBuckets(t, b)
}

// TestWaitsEqualKernelRunDelay: the histogram sum is, to the nanosecond,
// what the kernel itself added to the waiting tasks' run_delay.
func TestWaitsEqualKernelRunDelay(t *testing.T) {
	p := histogramOn()
	reg := start(t, p)
	if p.bpf.HandleSwitch == nil {
		t.Skipf("kernel run-queue stamps unusable here: %v", p.Objects().Failed)
	}
	cg := testutil.NewCgroup(t)
	hogs := hog(t, cg, 4, 500*time.Millisecond)
	// Stopped tasks are never queued again: both sides are final.
	var total int64
	for _, h := range hogs {
		h.Signal(syscall.SIGSTOP)
	}
	for _, h := range hogs {
		testutil.Eventually(t, 2*time.Second, func() bool { return procState(t, h.Pid) == "T" }, "pid %d not stopped", h.Pid)
		total += runDelay(t, h.Pid)
	}
	got := histogram(t, reg, cg)
	t.Logf("%d waits, %d ns; kernel run_delay %d ns", got.GetSampleCount(), int64(math.Round(got.GetSampleSum()*1e9)), total)
	if ns := int64(math.Round(got.GetSampleSum() * 1e9)); ns != total || total == 0 {
		t.Fatalf("histogram sum %d ns, kernel run_delay of the same tasks %d ns", ns, total)
	}
}

func procState(t *testing.T, pid int) string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	// pid (comm) state ...: comm may hold spaces, the state follows the last ')'.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	return f[0]
}

// runDelay is the run-queue wait the kernel accounted to a task, in ns.
func runDelay(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", pid))
	if err != nil {
		t.Fatal(err)
	}
	var run, delay int64
	if _, err := fmt.Sscan(string(b), &run, &delay); err != nil {
		t.Fatal(err)
	}
	return delay
}

// checkBuckets checks the buckets are the log2 microsecond bounds, cumulative.
func checkBuckets(t *testing.T, h *dto.Histogram) {
	t.Helper()
	buckets := h.GetBucket()
	if len(buckets) != series.Log2Slots-1 {
		t.Fatalf("%d buckets, want %d", len(buckets), series.Log2Slots-1)
	}
	var prev uint64
	for i, b := range buckets {
		if b.GetUpperBound() != series.Log2UpperBound(i) || b.GetCumulativeCount() < prev || b.GetCumulativeCount() > h.GetSampleCount() {
			t.Fatalf("bucket %d: le=%g count=%d after %d of %d", i, b.GetUpperBound(), b.GetCumulativeCount(), prev, h.GetSampleCount())
		}
		prev = b.GetCumulativeCount()
	}
}

func TestFullHistogramMapIsCounted(t *testing.T) {
	p := histogramOn()
	p.tuneSpec = func(s *ebpf.CollectionSpec) { s.Maps[schedMapRunqLatency].MaxEntries = 1 }
	reg := start(t, p)
	// Two cgroups wait on a map with room for one: the other is a counted drop.
	a, b := testutil.NewCgroup(t), testutil.NewCgroup(t)
	hog(t, a, 2, 0)
	hog(t, b, 2, 200*time.Millisecond)
	c, err := p.Objects().Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.MapFull == 0 {
		t.Fatalf("a one-cgroup histogram map under two waiting cgroups counted no map-full drop; series: %s", testutil.Series(t, reg, metric))
	}
}

func TestForgetDropsHistograms(t *testing.T) {
	p := histogramOn()
	reg := start(t, p)
	cg := testutil.NewCgroup(t)
	for _, proc := range hog(t, cg, 3, 100*time.Millisecond) {
		proc.Kill()
	}
	histogram(t, reg, cg)
	// A task still switching would record its cgroup again after Forget.
	testutil.Eventually(t, 5*time.Second, func() bool {
		procs, err := os.ReadFile(filepath.Join(cg.Dir, "cgroup.procs"))
		return err == nil && len(procs) == 0
	}, "hogs of %s never exited", cg.Path)
	if err := p.Objects().Forget([]uint64{cg.ID}); err != nil {
		t.Fatal(err)
	}
	if h := testutil.Histogram(t, reg, metric, map[string]string{"cgroup": cg.Path}); h != nil {
		t.Fatalf("histogram of a forgotten cgroup still exported")
	}
}
