package syscalls

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

func TestMain(m *testing.M) { testutil.Helpers(m, map[string]func([]string) error{"call": call}) }

// call, a helper, makes CALL N times: opens of a missing file (enoent), or
// getppid.
func call(args []string) error {
	n, err := strconv.Atoi(args[1])
	if err != nil {
		return err
	}
	for range n {
		switch args[0] {
		case "enoent":
			if _, err := unix.Open("/nonexistent-orb8", unix.O_RDONLY, 0); err != unix.ENOENT {
				return fmt.Errorf("open a missing file: %v", err)
			}
		case "getppid":
			unix.Getppid()
		}
	}
	return nil
}

// runHelper runs the helper in cg and waits for it; its pid is returned.
func runHelper(t *testing.T, cg *testutil.Cgroup, call string, n int) int {
	t.Helper()
	cmd := cg.Helper(t, "call", call, strconv.Itoa(n))
	cmd.Stderr = nil // for CombinedOutput
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("helper %s %d: %v %s", call, n, err, out)
	}
	return cmd.Process.Pid
}

type fixture struct {
	probe *Probe
	reg   *prometheus.Registry
	bus   *events.Bus
}

func start(t *testing.T, tracked ...string) *fixture {
	t.Helper()
	testutil.RequireRoot(t)
	res := testutil.Resolver(t)
	f := &fixture{probe: New(Options{Syscalls: tracked}), reg: prometheus.NewPedanticRegistry(), bus: events.NewBus()}
	if err := f.probe.Start(context.Background(), probe.Env{Resolver: res, Events: f.bus, Log: slog.Default(), CgroupRoot: res.Root()}); err != nil {
		t.Fatalf("start syscalls probe: %v", err)
	}
	t.Cleanup(func() { f.probe.Close() })
	f.reg.MustRegister(testutil.Collector(t, f.probe))
	return f
}

func (f *fixture) value(t *testing.T, name string, labels map[string]string) float64 {
	t.Helper()
	v, _ := testutil.Sample(t, f.reg, name, labels)
	return v
}

func TestMissingFileErrorsCountedExactly(t *testing.T) {
	f := start(t, "openat", "close")
	base, cg := testutil.NewCgroup(t), testutil.NewCgroup(t)
	const n = 37
	// The helper's runtime and loader open files too; the same helper doing
	// no opens of its own is the baseline.
	runHelper(t, base, "enoent", 0)
	runHelper(t, cg, "enoent", n)

	diff := func(name string, labels map[string]string) float64 {
		in := func(c *testutil.Cgroup) map[string]string {
			m := map[string]string{"cgroup": c.Path}
			for k, v := range labels {
				m[k] = v
			}
			return m
		}
		return f.value(t, name, in(cg)) - f.value(t, name, in(base))
	}
	enoent := map[string]string{"syscall": "openat", "errno": "ENOENT"}
	if got := diff("orb8_syscall_errors_total", enoent); got != n {
		t.Fatalf("openat ENOENT: %v more than the baseline, want %d; series: %s", got, n, testutil.Series(t, f.reg, "orb8_syscall_errors_total"))
	}
	if got := diff("orb8_syscalls_total", map[string]string{"syscall": "openat"}); got != n {
		t.Fatalf("openat calls: %v more than the baseline, want %d", got, n)
	}
	// Every call entered after the probe started, so every call is timed.
	calls := f.value(t, "orb8_syscalls_total", map[string]string{"cgroup": cg.Path, "syscall": "openat"})
	h := testutil.Histogram(t, f.reg, "orb8_syscall_latency_seconds", map[string]string{"cgroup": cg.Path, "syscall": "openat"})
	if h == nil || float64(h.GetSampleCount()) != calls || h.GetSampleSum() <= 0 || h.GetSampleSum() > 1 {
		t.Fatalf("openat latency histogram %v, want %v timed calls with a plausible sum", h, calls)
	}
	// Successful calls are no errors: every errno is a real one.
	if series := testutil.Series(t, f.reg, "orb8_syscall_errors_total"); strings.Contains(series, "errno=errno_") {
		t.Fatalf("errors without a known errno: %s", series)
	}
	if _, ok := testutil.Sample(t, f.reg, "orb8_syscalls_total", map[string]string{"cgroup": cg.Path, "syscall": "getppid"}); ok {
		t.Fatalf("an untracked syscall is exported")
	}
}

// collect reads syscall events of cg until none came for quiet.
func collect(sub *events.Subscription, quiet time.Duration) []events.Event {
	var got []events.Event
	for {
		select {
		case e := <-sub.C:
			got = append(got, e)
		case <-time.After(quiet):
			return got
		}
	}
}

func TestStreamOnDemandFilteredInKernel(t *testing.T) {
	f := start(t) // nothing tracked: the stream alone
	cg := testutil.NewCgroup(t)
	sub := f.bus.Subscribe(1<<16, nil, func(e *events.Event) bool { return e.Workload.Path == cg.Path })
	defer f.bus.Unsubscribe(sub)

	const n = 25
	runHelper(t, cg, "getppid", n)
	if got := collect(sub, 200*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d events while nothing is streamed", len(got))
	}

	stop, err := f.probe.Stream([]uint64{cg.ID}, []string{"getppid"})
	if err != nil {
		t.Fatal(err)
	}
	pid := runHelper(t, cg, "getppid", n)
	got := collect(sub, 300*time.Millisecond)
	if len(got) != n {
		t.Fatalf("%d events streamed for getppid only, want %d", len(got), n)
	}
	for _, e := range got {
		if e.Kind != events.KindSyscall || e.Syscall.Name != "getppid" || e.Syscall.Ret != int64(os.Getpid()) ||
			e.Process.PID != uint32(pid) || e.Syscall.Errno != "" || !e.Syscall.Timed {
			t.Fatalf("event %+v %+v: want getppid of pid %d returning %d", e, e.Syscall, pid, os.Getpid())
		}
	}

	// A second, unfiltered stream on the same cgroup widens the kernel filter.
	stopAll, err := f.probe.Stream([]uint64{cg.ID}, nil)
	if err != nil {
		t.Fatal(err)
	}
	runHelper(t, cg, "enoent", n)
	enoent := 0
	got = collect(sub, 300*time.Millisecond)
	for _, e := range got {
		if e.Syscall.Name == "openat" && e.Syscall.Errno == "ENOENT" && e.Syscall.Ret == -int64(unix.ENOENT) {
			enoent++
		}
	}
	if enoent < n || len(got) <= n {
		t.Fatalf("unfiltered stream: %d events, %d openat ENOENT; want more than %d, at least %d", len(got), enoent, n, n)
	}

	stop()
	stop()
	stopAll()
	var streamedCgroups uint32
	if err := f.probe.bpf.Streaming.Lookup(uint32(0), &streamedCgroups); err != nil || streamedCgroups != 0 {
		t.Fatalf("streamed cgroups in the kernel after stop: %d (%v)", streamedCgroups, err)
	}
	runHelper(t, cg, "getppid", n)
	if got := collect(sub, 200*time.Millisecond); len(got) != 0 {
		t.Fatalf("%d events after the streams stopped", len(got))
	}
}

func TestStreamRefusesBadInput(t *testing.T) {
	f := start(t)
	if _, err := f.probe.Stream([]uint64{1}, []string{"getppdi"}); err == nil {
		t.Fatal("an unknown syscall name was accepted")
	}
	if _, err := f.probe.Stream(nil, nil); err == nil {
		t.Fatal("a stream of no cgroup was accepted")
	}
}

func TestStartRefusesUnknownSyscall(t *testing.T) {
	testutil.RequireRoot(t)
	if err := New(Options{Syscalls: []string{"opneat"}}).Start(context.Background(), probe.Env{}); err == nil {
		t.Fatal("started with an unknown syscall")
	}
}

func TestErrnoNames(t *testing.T) {
	for e, want := range map[uint32]string{2: "ENOENT", 13: "EACCES", 512: "ERESTARTSYS", 4000: "errno_4000"} {
		if got := errnoName(e); got != want {
			t.Errorf("errno %d named %q, want %q", e, got, want)
		}
	}
}

func TestForgetDropsKernelState(t *testing.T) {
	f := start(t, "openat")
	gone, kept := testutil.NewCgroup(t), testutil.NewCgroup(t)
	runHelper(t, gone, "enoent", 3)
	runHelper(t, kept, "enoent", 3)
	if err := f.probe.Objects().Forget([]uint64{gone.ID}); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{"orb8_syscalls_total", "orb8_syscall_errors_total"} {
		if _, ok := testutil.Sample(t, f.reg, name, map[string]string{"cgroup": gone.Path}); ok {
			t.Errorf("%s of a forgotten cgroup still exported", name)
		}
		if _, ok := testutil.Sample(t, f.reg, name, map[string]string{"cgroup": kept.Path}); !ok {
			t.Errorf("%s of another cgroup was dropped too", name)
		}
	}
}
