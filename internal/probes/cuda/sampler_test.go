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
// ~1.4 us). Where the trap costs more than the step, the estimate is as
// sensitive to the trap's cost as that ratio is large: BenchmarkLaunchBound
// measures that case (launchWork) over a minute.
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
// runtime's launches trap, one trap per launch, but in the windows' middle
// halves, which measure the trap's cost; its allocations stay exact.
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
	// Windows measured the trap's cost in the process: their quarters
	// hooked the runtime only (one trap per launch), their middle halves
	// the driver too (two), and the difference is near the cost measured at
	// start (this VM's moves by a third from second to second).
	if c, start := p.trapCost, f.probe.sampler.costs.emulated; c < start/2 || c > 2*start {
		t.Errorf("trap cost measured in the process %v, at start %v: want within a factor of two", c, start)
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

// TestMeasureInWindow: a window split in quarters and a middle half gives
// the trap's cost from the difference of its two kinds of step, where it
// timed enough of each and the difference is within a factor of three of
// the cost measured at start; else the process keeps its last measure.
func TestMeasureInWindow(t *testing.T) {
	s := &sampler{costs: trapCosts{emulated: 5 * time.Microsecond, stepped: 20 * time.Microsecond}}
	steps := func(one, two uint64, oneNs, twoNs uint64) cudaWindow {
		return cudaWindow{Steps: [2]uint64{one, two}, StepNs: [2]uint64{one * oneNs, two * twoNs}}
	}
	for _, tc := range []struct {
		name       string
		part       int
		w          cudaWindow
		cost, step time.Duration // want; the last measure was 4 us, 9 us
	}{
		{"measured", lastQuarter, steps(2000, 1500, 9500, 15000), 5500 * time.Nanosecond, 9500 * time.Nanosecond},
		{"unsplit window", unsplit, steps(2000, 1500, 9500, 15000), 4 * time.Microsecond, 9 * time.Microsecond},
		{"too few two-trap steps", lastQuarter, steps(2000, 99, 9500, 15000), 4 * time.Microsecond, 9 * time.Microsecond},
		{"too few one-trap steps: the cap goes", lastQuarter, steps(99, 1500, 9500, 15000), 4 * time.Microsecond, 0},
		{"no difference", lastQuarter, steps(2000, 1500, 9500, 9500), 4 * time.Microsecond, 9 * time.Microsecond},
		{"too small", lastQuarter, steps(2000, 1500, 9500, 11000), 4 * time.Microsecond, 9 * time.Microsecond},
		{"too large", lastQuarter, steps(2000, 1500, 9500, 26000), 4 * time.Microsecond, 9 * time.Microsecond},
	} {
		p := &sampledProcess{part: tc.part, trapCost: 4 * time.Microsecond, step: 9 * time.Microsecond}
		s.measureInWindow(p, tc.w)
		if p.trapCost != tc.cost || p.step != tc.step {
			t.Errorf("%s: trap cost %v, step %v; want %v, %v", tc.name, p.trapCost, p.step, tc.cost, tc.step)
		}
	}
}
