package cuda

import (
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

// launchWork is the host work of the launch-bound loop's steps: what a real
// cudaLaunchKernel and the framework around it cost.
const launchWork = 4 * time.Microsecond

// sampledWork is the step of TestSamplesLaunchBoundLoop: dearer than a trap
// on the suite's VMs (5-8 us), as a launch is on a GPU node (a trap there:
// ~1.4 us). Where the trap costs more than the step, the estimate swings by
// the step's share of the trap cost measured at start: -28% to +66% in runs
// with launchWork. BenchmarkLaunchBound measures that case over a minute.
const sampledWork = 15 * time.Microsecond

// loopRun is what one run of the app's launch-bound loop did.
type loopRun struct {
	launches, mallocs float64
	perStep           time.Duration
}

// runLoop has the app run its launch-bound loop once, for the time it was
// started with, and returns what it did.
func runLoop(t testing.TB, a *app, work time.Duration, mallocEvery int) loopRun {
	t.Helper()
	startLoop(t, a, work, mallocEvery)
	return loopResult(t, a)
}

// startLoop starts a run of the loop, of steps of work, with a 4 KiB
// cudaMalloc (freeing the previous one) every mallocEvery launches (0: none).
func startLoop(t testing.TB, a *app, work time.Duration, mallocEvery int) {
	t.Helper()
	if _, err := fmt.Fprintf(a.Stdin, "%d %d\n", work.Nanoseconds(), mallocEvery); err != nil {
		t.Fatal(err)
	}
}

func loopResult(t testing.TB, a *app) loopRun {
	t.Helper()
	line := a.expect(t, "launches=")
	var r loopRun
	var ns float64
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "launches=%g mallocs=%g ns=%g", &r.launches, &r.mallocs, &ns); err != nil {
		t.Fatalf("app said %q: %v", line, err)
	}
	r.perStep = time.Duration(ns)
	return r
}

// TestSamplesLaunchBoundLoop: a process that launches far faster than its
// trap budget allows is hooked in windows; its launches between windows are
// estimated, and exported as such; after the first window only the
// runtime's launches trap, one trap per launch; its allocations stay exact.
func TestSamplesLaunchBoundLoop(t *testing.T) {
	f := startWith(t, Options{LeakWindow: time.Minute,
		timing: samplingTiming{window: 50 * time.Millisecond, exactWindow: time.Second, maxGap: time.Second}})
	dir := buildStandins(t, "-O0")
	cg := testutil.NewCgroup(t)
	a := startApp(t, cg, dir, "loop", "4000")
	testutil.Eventually(t, 2*time.Second, func() bool { return f.hooked(t, a) }, "the app's launches not hooked")
	// Two loops back to back; the second is measured, as the first started
	// at some point of a window, which then saw fewer launches than it
	// would have for the whole of it.
	const mallocEvery = 1000
	startLoop(t, a, sampledWork, mallocEvery)
	startLoop(t, a, sampledWork, mallocEvery)
	first := loopResult(t, a)
	in := map[string]string{"cgroup": cg.Path}
	before := f.value(t, "orb8_accelerator_kernel_launches_total", in)
	second := loopResult(t, a)
	made := second.launches
	counted := f.value(t, "orb8_accelerator_kernel_launches_total", in) - before
	ratio := f.value(t, "orb8_accelerator_sampling_ratio", map[string]string{"runtime": "cuda", "call": "launch"})
	t.Logf("made %.0f launches, counted %.0f (%.2f%%), sampling ratio %.3f", made, counted, 100*(counted/made-1), ratio)
	// A fifth: the gaps are estimated at all (unestimated, the count is
	// ~95% low) and corrected for the traps' slowdown (uncorrected, ~26% low
	// here), by the trap cost each window measures in the process.
	if math.Abs(counted/made-1) > 0.2 {
		t.Errorf("counted %.0f launches, made %.0f: more than 20%% off", counted, made)
	}
	// Every allocation counted, sampled launches or not; each freed but the
	// last one of each run, which the run frees at its end.
	mallocs := first.mallocs + second.mallocs
	f.waitFor(t, "orb8_accelerator_malloc_bytes_total", in, 4096*mallocs)
	f.waitFor(t, "orb8_accelerator_free_bytes_total", in, 4096*mallocs)
	f.waitFor(t, "orb8_accelerator_memory_outstanding_bytes", in, 0)
	if ratio <= 0 || ratio >= 0.5 {
		t.Errorf("sampling ratio %.3f: want most launches estimated (windows of 50 ms, gaps up to 1 s)", ratio)
	}

	f.probe.sampler.mu.Lock()
	p := f.probe.sampler.procs[a.Cmd.Process.Pid]
	f.probe.sampler.mu.Unlock()
	if p == nil || p.exact || p.windows < 3 {
		t.Fatalf("loop's process not duty-cycled: %+v", p)
	}
	if p.levels != [2]bool{true, false} {
		t.Errorf("launch levels learned %v, want the runtime's only", p.levels)
	}
	// The last window: one trap per launch in its quarters, two (the
	// driver's under the runtime's) in its middle half, which timed steps
	// of both kinds.
	w := p.last
	if n := w.Launches[levelRuntime]; w.Traps <= n || w.Traps >= 2*n {
		t.Errorf("last window: %d traps for %d launches, want between one and two each", w.Traps, n)
	}
	if _, _, ok := trapCostInWindow(w); !ok {
		t.Errorf("last window measured no trap cost: steps %v, %v ns", w.Steps, w.StepNs)
	}
}

// TestExactCountsEveryLaunch: with Exact, the same loop's launches are
// counted, every one.
func TestExactCountsEveryLaunch(t *testing.T) {
	f := startWith(t, Options{LeakWindow: time.Minute, Exact: true})
	dir := buildStandins(t, "-O0")
	cg := testutil.NewCgroup(t)
	a := startApp(t, cg, dir, "loop", "1000")
	testutil.Eventually(t, 2*time.Second, func() bool { return f.hooked(t, a) }, "the app's launches not hooked")
	made := runLoop(t, a, launchWork, 0).launches
	f.waitFor(t, "orb8_accelerator_kernel_launches_total", map[string]string{"cgroup": cg.Path}, made)
	f.waitFor(t, "orb8_accelerator_sampling_ratio", map[string]string{"runtime": "cuda", "call": "launch"}, 1)
}
