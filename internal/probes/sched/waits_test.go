package sched

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/testutil"
)

const (
	waitMetric       = "orb8_sched_runqueue_wait_seconds_total"
	timeslicesMetric = "orb8_sched_timeslices_total"
	// burnLoops: a shell loop of ~0.5 s of CPU here, so two burners on one
	// CPU take ~1 s and each waits ~0.5 s of it.
	burnLoops = 300000
	// hogCPU is the CPU burners are pinned to.
	hogCPU = 1
)

// burner is a shell (one thread, no children) that burns CPU in builtins
// each time it reads a line, then says "burnt" and blocks reading the
// next; EOF ends it. Blocked, its run_delay and pcount stand still, so what
// the kernel counted can be read while the probe's counters are compared.
type burner struct {
	*testutil.Piped
	pid int
}

func startBurners(t *testing.T, cg *testutil.Cgroup, n int) []*burner {
	t.Helper()
	script := fmt.Sprintf("while read go; do i=0; while [ $i -lt %d ]; do i=$((i+1)); done; echo burnt; done", burnLoops)
	var bs []*burner
	for range n {
		b := &burner{Piped: testutil.StartPiped(t, cg.Command(t, "/bin/sh", "-c", script))}
		b.pid = b.Cmd.Process.Pid
		var set unix.CPUSet
		set.Set(hogCPU)
		if err := unix.SchedSetaffinity(b.pid, &set); err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	return bs
}

// burn has every burner burn once, together on hogCPU, and returns once
// all are blocked again.
func burn(t *testing.T, bs []*burner) {
	t.Helper()
	for _, b := range bs {
		if _, err := b.Stdin.Write([]byte("go\n")); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range bs {
		b.Expect(t, "burnt")
		testutil.Eventually(t, 2*time.Second, func() bool { return procState(t, b.pid) == "S" }, "burner %d not blocked", b.pid)
	}
}

// counts is what the kernel counted for threads: run_delay in ns, pcount.
type counts struct{ delay, pcount int64 }

func (c counts) plus(o counts) counts  { return counts{c.delay + o.delay, c.pcount + o.pcount} }
func (c counts) minus(o counts) counts { return counts{c.delay - o.delay, c.pcount - o.pcount} }

// threadCounts sums the schedstat of every thread of pid, which may be a
// zombie not yet reaped: its task and sched_info are still there.
func threadCounts(t *testing.T, pid int) counts {
	t.Helper()
	files, err := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/schedstat", pid))
	if err != nil || len(files) == 0 {
		t.Fatalf("no threads of pid %d: %v", pid, err)
	}
	var sum counts
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var run int64
		var c counts
		if _, err := fmt.Sscan(string(b), &run, &c.delay, &c.pcount); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		sum = sum.plus(c)
	}
	return sum
}

func allCounts(t *testing.T, bs []*burner) counts {
	var sum counts
	for _, b := range bs {
		sum = sum.plus(threadCounts(t, b.pid))
	}
	return sum
}

// end closes a process's input and returns what the kernel counted for
// it once it exited, read from the zombie before it is reaped.
func end(t *testing.T, p *testutil.Piped) counts {
	t.Helper()
	p.Stdin.Close()
	pid := p.Cmd.Process.Pid
	var info unix.Siginfo
	if err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil); err != nil {
		t.Fatal(err)
	}
	c := threadCounts(t, pid)
	p.Cmd.Wait()
	return c
}

// settled waits until the probe exports want for cg (a thread's last
// counts arrive an RCU grace period after it is reaped) and returns it.
func settled(t *testing.T, reg prometheus.Gatherer, cg *testutil.Cgroup, want counts) counts {
	t.Helper()
	var got counts
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		got, _ = exportedIf(t, reg, cg)
		if got == want || time.Now().After(deadline) {
			break
		}
	}
	t.Logf("%s: counted %+v, kernel %+v", cg.Path, got, want)
	if got != want {
		t.Fatalf("%s: counted %+v, kernel counted %+v for its ended threads", cg.Path, got, want)
	}
	return got
}

// exported is what the probe exports for cg: wait in ns, timeslices.
func exported(t *testing.T, reg prometheus.Gatherer, cg *testutil.Cgroup) counts {
	t.Helper()
	c, ok := exportedIf(t, reg, cg)
	if !ok {
		t.Fatalf("no %s or %s for %s; series: %s", waitMetric, timeslicesMetric, cg.Path, testutil.Series(t, reg, waitMetric))
	}
	return c
}

// exportedIf is exported, ok false when either series is absent.
func exportedIf(t *testing.T, reg prometheus.Gatherer, cg *testutil.Cgroup) (counts, bool) {
	wait, ok := testutil.Sample(t, reg, waitMetric, map[string]string{"cgroup": cg.Path})
	n, ok2 := testutil.Sample(t, reg, timeslicesMetric, map[string]string{"cgroup": cg.Path})
	return counts{int64(math.Round(wait * 1e9)), int64(n)}, ok && ok2
}

// TestWaitsEqualThreadsSchedstat: the workload's counters are what the
// kernel counted for its threads (/proc/<pid>/task/<tid>/schedstat: run_delay,
// pcount), to the nanosecond while they are alive, and at their exit.
func TestWaitsEqualThreadsSchedstat(t *testing.T) {
	p := New(Options{})
	reg := start(t, p)
	busy, idle := testutil.NewCgroup(t), testutil.NewCgroup(t)
	sleeper := testutil.StartPiped(t, idle.Command(t, "/bin/sleep", "1"))
	bs := startBurners(t, busy, 2)
	burn(t, bs)

	// Blocked, the burners' counts stand still: after a flush the counters
	// must equal them exactly.
	truth := allCounts(t, bs)
	p.flushes.Run(time.Now())
	got := exported(t, reg, busy)
	t.Logf("alive: counted %+v, kernel %+v", got, truth)
	// Two always-runnable loops on one CPU: each waits while the other runs.
	if truth.delay < 200e6 {
		t.Fatalf("two burners on one CPU waited %d ns in all; want 200 ms or more", truth.delay)
	}
	if got != truth {
		t.Fatalf("counted %+v, kernel counted %+v for the same threads", got, truth)
	}

	// A thread's last counts are flushed when its task is freed, after its
	// last context switch: the counters reach the zombie's counts exactly.
	var final counts
	for _, b := range bs {
		final = final.plus(end(t, b.Piped))
	}
	got = settled(t, reg, busy, final)
	if got.pcount <= truth.pcount {
		t.Fatalf("the ends added nothing: %+v after, %+v before (waking to read EOF is a timeslice at least)", got, truth)
	}

	// A sleeper waits only to wake: next to nothing, and what it did wait is counted too.
	idleGot := settled(t, reg, idle, end(t, sleeper))
	// Next to nothing on a quiet machine (~0.1 ms here); a busy one can keep
	// even a sleeper's few wakeups waiting some ms.
	if idleGot.delay > got.delay/20 {
		t.Fatalf("a sleeper waited %d ns, not next to nothing (burners: %d ns)", idleGot.delay, got.delay)
	}
}

// TestThreadBeforeProbeCountedFromStart: a thread alive before the probe
// is counted from the probe's start, not from its birth.
func TestThreadBeforeProbeCountedFromStart(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	bs := startBurners(t, cg, 2)
	burn(t, bs)
	before := allCounts(t, bs)
	if before.delay == 0 {
		t.Fatal("the burners waited nothing before the probe started: the test shows nothing")
	}

	p := New(Options{})
	reg := start(t, p)
	burn(t, bs)
	after := allCounts(t, bs)
	p.flushes.Run(time.Now())
	got, want := exported(t, reg, cg), after.minus(before)
	t.Logf("counted %+v; kernel: %+v before the probe, %+v since", got, before, want)
	if got != want {
		t.Fatalf("counted %+v, want what the kernel counted since the probe started, %+v (%+v before it)", got, want, before)
	}
}

// TestDefaultHasNoSwitchHook: by default nothing runs per context switch
// and the histogram is not exported.
func TestDefaultHasNoSwitchHook(t *testing.T) {
	p := New(DefaultOptions())
	reg := start(t, p)
	progs := p.Objects().Programs()
	names := make([]string, 0, len(progs))
	for name := range progs {
		names = append(names, name)
	}
	slices.Sort(names)
	if want := []string{schedProgFlushAllWaits, schedProgHandleFree}; !slices.Equal(names, want) {
		t.Fatalf("loaded %v, want %v", names, want)
	}
	cg := testutil.NewCgroup(t)
	burn(t, startBurners(t, cg, 2))
	p.flushes.Run(time.Now())
	exported(t, reg, cg)
	if h := testutil.Histogram(t, reg, metric, map[string]string{"cgroup": cg.Path}); h != nil {
		t.Fatalf("%s exported without --sched-runqueue-histogram", metric)
	}
}

// TestWithoutSchedInfo: a kernel that counts no waits per thread
// (CONFIG_SCHED_INFO off) is said so, never exported as zeros: the probe
// is down, or degraded with the histogram on.
func TestWithoutSchedInfo(t *testing.T) {
	testutil.RequireRoot(t)
	noSchedInfo := func() (bool, error) { return false, nil }

	p := New(Options{})
	p.countsWaits = noSchedInfo
	if err := p.Start(t.Context(), envFor(t)); !errors.Is(err, errNoSchedInfo) {
		p.Close()
		t.Fatalf("started without sched_info: %v", err)
	}

	p = histogramOn()
	p.countsWaits = noSchedInfo
	reg := start(t, p)
	if p.Objects().Failed[schedProgFlushAllWaits] == nil {
		t.Fatalf("not degraded: %v", p.Objects().Failed)
	}
	cg := testutil.NewCgroup(t)
	burn(t, startBurners(t, cg, 2))
	histogram(t, reg, cg)
	if v, ok := testutil.Sample(t, reg, waitMetric, map[string]string{"cgroup": cg.Path}); ok {
		t.Fatalf("%s = %v exported where the kernel counts nothing", waitMetric, v)
	}
}

func TestFullWaitsMapIsCounted(t *testing.T) {
	p := New(Options{})
	p.tuneSpec = func(s *ebpf.CollectionSpec) { s.Maps[schedMapWaits].MaxEntries = 1 }
	start(t, p)
	a, b := testutil.NewCgroup(t), testutil.NewCgroup(t)
	burn(t, append(startBurners(t, a, 1), startBurners(t, b, 1)...))
	p.flushes.Run(time.Now())
	c, err := p.Objects().Counters()
	if err != nil {
		t.Fatal(err)
	}
	if c.MapFull == 0 {
		t.Fatal("a one-cgroup counter map under two waiting cgroups counted no map-full drop")
	}
}

func TestForgetDropsKernelState(t *testing.T) {
	p := New(Options{})
	reg := start(t, p)
	cg := testutil.NewCgroup(t)
	bs := startBurners(t, cg, 2)
	burn(t, bs)
	var final counts
	for _, b := range bs {
		final = final.plus(end(t, b.Piped))
	}
	settled(t, reg, cg, final)
	if err := p.Objects().Forget([]uint64{cg.ID}); err != nil {
		t.Fatal(err)
	}
	if v, ok := testutil.Sample(t, reg, waitMetric, map[string]string{"cgroup": cg.Path}); ok {
		t.Fatalf("%s = %v of a forgotten cgroup still exported", waitMetric, v)
	}
}
