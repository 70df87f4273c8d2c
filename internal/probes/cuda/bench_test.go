package cuda

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

// benchCalls is how many calls of each kind the app times per run.
const benchCalls = 200000

// runBench runs the stand-in app's timing loop and returns its ns per call of
// cudaLaunchKernel (entry+return probe, plus the nested cuLaunchKernel entry
// it reaches) and of cuLaunchKernel called directly (entry-only probe).
func runBench(b *testing.B, cg *testutil.Cgroup, dir string, ready func() bool) (runtimeNs, driverNs float64) {
	b.Helper()
	a := startApp(b, cg, dir, "bench", fmt.Sprint(benchCalls))
	if ready != nil {
		testutil.Eventually(b, 2*time.Second, ready, "stand-in libraries not hooked")
	}
	a.proceed(b)
	line := a.expect(b, "runtime_launch_ns=")
	if _, err := fmt.Sscanf(strings.TrimSpace(line), "runtime_launch_ns=%g driver_launch_ns=%g", &runtimeNs, &driverNs); err != nil {
		b.Fatalf("app said %q: %v", line, err)
	}
	return runtimeNs, driverNs
}

// BenchmarkTracedCall measures what a hooked CUDA call costs: run with
// -benchtime 1x (each iteration times 200000 calls of each kind).
func BenchmarkTracedCall(b *testing.B) {
	testutil.RequireRoot(b)
	dir := buildStandins(b)
	cg := testutil.NewCgroup(b)
	var plainRt, plainDrv, tracedRt, tracedDrv float64
	for range b.N {
		rt, drv := runBench(b, cg, dir, nil)
		plainRt, plainDrv = plainRt+rt, plainDrv+drv
	}
	f := start(b, time.Minute)
	for range b.N {
		rt, drv := runBench(b, cg, dir, func() bool { return f.hooked(b) })
		tracedRt, tracedDrv = tracedRt+rt, tracedDrv+drv
	}
	n := float64(b.N)
	b.ReportMetric(plainRt/n, "ns/untraced-runtime-call")
	b.ReportMetric(tracedRt/n, "ns/traced-runtime-call")
	b.ReportMetric((tracedRt-plainRt)/n, "ns-overhead/runtime-call(entry+return)")
	b.ReportMetric(plainDrv/n, "ns/untraced-driver-call")
	b.ReportMetric(tracedDrv/n, "ns/traced-driver-call")
	b.ReportMetric((tracedDrv-plainDrv)/n, "ns-overhead/driver-call(entry-only)")
}
