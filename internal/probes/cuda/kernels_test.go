package cuda

import (
	"fmt"
	"io"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe/uprobe"
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
	a, cg := runKernelsApp(t, f)
	expectKnownKernels(t, f, cg)
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

// TestNamesKernelsOfAShortLivedProcess: a process that exits 1 s after
// its launches, long before the next refresh reads its mappings, still has
// its runtime launches counted by name: the kernel sends its first launch
// of each kernel, which is named within 50 ms.
func TestNamesKernelsOfAShortLivedProcess(t *testing.T) {
	f := start(t, time.Minute)
	a, cg := runKernelsApp(t, f)
	time.Sleep(time.Second) // far less than the refresh's 5 s
	a.exit(t)
	expectKnownKernels(t, f, cg)
	if v, ok := testutil.Sample(t, f.reg, "orb8_accelerator_kernel_launches_by_name_total",
		map[string]string{"cgroup": cg.Path, "kernel": unknownKernel}); ok {
		t.Errorf("%v launches of the exited process named %s", v, unknownKernel)
	}
}

// TestKernelTablesCountWhatDoesNotFit: a process launching 20,000 kernels
// no launch named before (made-up host functions) and looking 20,000
// CUfunctions up fills the in-kernel tables, whose overflow is counted
// exactly, and while someone streams cuda events each CPU sends at most its
// budget a second, the rest counted as dropped.
func TestKernelTablesCountWhatDoesNotFit(t *testing.T) {
	const calls = 20000
	f := startWith(t, Options{LeakWindow: time.Minute, Exact: true})
	sub := f.probe.env.Events.Subscribe(2*calls, []string{events.KindCUDA}, nil)
	defer f.probe.env.Events.Unsubscribe(sub)
	dir := buildStandins(t)
	cg := testutil.NewCgroup(t)
	a := startApp(t, cg, dir, "bench", fmt.Sprint(calls))
	testutil.Eventually(t, 2*time.Second, func() bool { return f.hooked(t, a) },
		"libraries not hooked; series: %s", testutil.Series(t, f.reg, "orb8_accelerator_kernel_table_dropped_total"))
	for _, call := range []string{"distinct", "name"} {
		if _, err := io.WriteString(a.Stdin, call+"\n"); err != nil {
			t.Fatal(err)
		}
		a.expect(t, "ns=")
	}

	dropped := func(table string) float64 {
		return f.value(t, "orb8_accelerator_kernel_table_dropped_total", map[string]string{"runtime": "cuda", "table": table})
	}
	f.waitFor(t, "orb8_accelerator_kernel_launches_total", map[string]string{"cgroup": cg.Path, "runtime": "cuda"}, calls)
	if got, want := dropped("launches"), float64(calls-cudaKernelLimitMAX_KERNELS); got != want {
		t.Errorf("launches dropped from the kernel table: %v, want %v", got, want)
	}
	if got, want := dropped("function_names"), float64(calls-cudaKernelLimitMAX_FUNCTION_NAMES); got != want {
		t.Errorf("function names dropped: %v, want %v", got, want)
	}
	// The launches took a second or two at most: each CPU sent at most
	// LAUNCH_EVENTS_PER_SEC in each second they touched.
	budget := float64(2 * runtime.NumCPU() * int(cudaKernelLimitLAUNCH_EVENTS_PER_SEC))
	testutil.Eventually(t, 2*time.Second, func() bool { return dropped("events") >= calls-budget },
		"%v launch events dropped for %d launches, want at least %v", dropped("events"), calls, calls-budget)
	time.Sleep(500 * time.Millisecond) // the ring drained
	if sent := float64(len(sub.C)); sent > budget || sent == 0 {
		t.Errorf("%v launch events sent for %d launches, want 1 to %v", sent, calls, budget)
	}
}

// TestKernelRowsBounded: the sums by (cgroup, name) hold maxKernelRows
// rows; launches of a row that does not fit are counted as dropped, and
// rows already held keep counting.
func TestKernelRowsBounded(t *testing.T) {
	k := newKernelNames(nil, nil)
	for i := range maxKernelRows {
		k.add(kernelRow{cgroup: 1, kernel: fmt.Sprint(i)}, 1)
	}
	k.add(kernelRow{cgroup: 2, kernel: "0"}, 7)
	k.add(kernelRow{cgroup: 1, kernel: "0"}, 2)
	rows, dropped := k.counts(func(id uint64) (cgroup.Workload, bool) {
		return cgroup.Workload{ID: id, Path: fmt.Sprint("/", id)}, true
	})
	if len(rows) != maxKernelRows || dropped != 7 {
		t.Fatalf("%d rows, %d dropped; want %d rows, 7 dropped", len(rows), dropped, maxKernelRows)
	}
	if i := slices.IndexFunc(rows, func(r kernelCount) bool { return r.kernel == "0" }); rows[i].launches != 3 {
		t.Errorf("row 0: %d launches, want 3", rows[i].launches)
	}
}

// runKernelsApp runs the kernels app's launches in a new test cgroup, once
// its libraries are hooked; the app waits to be told to exit.
func runKernelsApp(t *testing.T, f *fixture) (*app, *testutil.Cgroup) {
	t.Helper()
	dir := buildStandins(t)
	cg := testutil.NewCgroup(t)
	a := startCommand(t, cg.Command(t, filepath.Join(dir, "kernels"), dir))
	testutil.Eventually(t, 2*time.Second, func() bool { return f.hooked(t, a) },
		"libraries not hooked; series: %s", testutil.Series(t, f.reg, "orb8_accelerator_libraries_hooked"))
	a.proceed(t)
	a.expect(t, "done")
	return a, cg
}

// expectKnownKernels waits for the kernels app's launches in cg to be
// counted by name, each exactly.
func expectKnownKernels(t *testing.T, f *fixture, cg *testutil.Cgroup) {
	t.Helper()
	for name, k := range knownKernels {
		f.waitFor(t, "orb8_accelerator_kernel_launches_by_name_total",
			map[string]string{"cgroup": cg.Path, "runtime": "cuda", "kernel": name}, float64(k.times))
	}
}

// TestSymbolCacheKeptAcrossAClear: a file's names read before the cache
// was cleared (another file filled it) stay with the new offsets cached.
func TestSymbolCacheKeptAcrossAClear(t *testing.T) {
	k := newKernelNames(nil, nil)
	k.proc = t.TempDir() // no process: nothing opens, new offsets get ""
	for i := range maxSymbolFiles - 1 {
		k.symbols[uprobe.FileID{Inode: uint64(i + 1)}] = map[uint64]string{}
	}
	a := uprobe.Mapping{ID: uprobe.FileID{Inode: 1 << 40}}
	known := map[uint64]string{0x10: "demo::scale(float*, int)"}
	k.symbols[a.ID] = known
	k.cacheSymbols(1, uprobe.Mapping{ID: uprobe.FileID{Inode: 1 << 41}}, []uint64{0x20}, nil) // clears
	got := k.cacheSymbols(1, a, []uint64{0x30}, known)
	if got[0x10] != "demo::scale(float*, int)" || k.symbols[a.ID][0x10] != "demo::scale(float*, int)" {
		t.Errorf("after a clear, the file's names are %v (cache %v), want 0x10 kept", got, k.symbols[a.ID])
	}
	if _, ok := got[0x30]; !ok {
		t.Errorf("the new offset is not cached: %v", got)
	}
}
