package cuda

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/testutil"
)

// kernelLaunch is what the kernels app (testdata/standin/kernels.cc)
// launches of one kernel, and how.
type kernelLaunch struct {
	times       int
	api         string
	grid, block [3]uint32
	shared      uint32
	stream      uint64
}

var knownKernels = map[string]kernelLaunch{
	"demo::scale(float*, int)": {5, "runtime", [3]uint32{4, 2, 1}, [3]uint32{128, 1, 1}, 64, 0x10},
	"demo::shift(float*, int)": {3, "runtime", [3]uint32{8, 1, 1}, [3]uint32{32, 4, 1}, 0, 0},
	"demo::fill(float*)":       {2, "runtime", [3]uint32{3, 3, 3}, [3]uint32{64, 1, 1}, 128, 0x20},
	"demo::gemm()":             {2, "driver", [3]uint32{16, 1, 1}, [3]uint32{256, 1, 1}, 512, 0x30},
	"demo::reduce()":           {4, "driver", [3]uint32{2, 1, 1}, [3]uint32{1024, 1, 1}, 0, 0x40},
}

// TestCountsLaunchesByKernelName: the kernels app's launches, through the
// runtime (host-side function symbols of the executable) and the driver
// (CUfunction names from cuModuleGetFunction and cuLibraryGetKernel with
// cuKernelGetFunction), are counted exactly by demangled name, and each
// one is streamed as a cuda event with its dimensions and stream.
func TestCountsLaunchesByKernelName(t *testing.T) {
	f := start(t, time.Minute)
	sub := f.probe.env.Events.Subscribe(64, []string{events.KindCUDA}, nil)
	defer f.probe.env.Events.Unsubscribe(sub)
	dir := buildStandins(t)
	cg := testutil.NewCgroup(t)
	a := startCommand(t, cg.Command(t, filepath.Join(dir, "kernels"), dir))
	testutil.Eventually(t, 2*time.Second, func() bool { return f.hooked(t, a) },
		"libraries not hooked; series: %s", testutil.Series(t, f.reg, "orb8_accelerator_libraries_hooked"))
	a.proceed(t)
	a.expect(t, "done")

	for name, k := range knownKernels {
		f.waitFor(t, "orb8_accelerator_kernel_launches_by_name_total",
			map[string]string{"cgroup": cg.Path, "runtime": "cuda", "kernel": name}, float64(k.times))
	}
	got := map[string]int{}
	deadline := time.After(3 * time.Second)
	for n := 0; n < 16; n++ {
		select {
		case e := <-sub.C:
			l := e.CUDA
			want, ok := knownKernels[l.Kernel]
			if !ok || e.Workload.Path != cg.Path || e.Process.PID != uint32(a.Cmd.Process.Pid) {
				t.Fatalf("unexpected launch event %+v %+v", e, *l)
			}
			if l.API != want.api || l.Grid != want.grid || l.Block != want.block || l.SharedBytes != want.shared || l.Stream != want.stream || l.Runtime != "cuda" {
				t.Errorf("launch of %s: %+v, want %+v", l.Kernel, *l, want)
			}
			got[l.Kernel]++
		case <-deadline:
			t.Fatalf("%d launch events in 3s, want 16: %v", n, got)
		}
	}
	for name, k := range knownKernels {
		if got[name] != k.times {
			t.Errorf("%d launch events of %s, want %d", got[name], name, k.times)
		}
	}
	if v := f.value(t, "orb8_accelerator_kernel_table_dropped_total", map[string]string{"table": "launches"}); v != 0 {
		t.Errorf("%v launches dropped from the kernel table", v)
	}

	// The exited process's rows leave the kernel's table; its sums stay.
	a.exit(t)
	testutil.Eventually(t, 3*time.Second, func() bool {
		f.probe.kernels.refresh()
		var (
			k cudaKernelKey
			v uint64
		)
		it := f.probe.bpf.KernelLaunches.Iterate()
		for it.Next(&k, &v) {
			if k.Tgid == uint32(a.Cmd.Process.Pid) {
				return false
			}
		}
		return true
	}, "the exited app's launch rows are still in the kernel's table")
	f.waitFor(t, "orb8_accelerator_kernel_launches_by_name_total",
		map[string]string{"cgroup": cg.Path, "runtime": "cuda", "kernel": "demo::scale(float*, int)"}, 5)
}
