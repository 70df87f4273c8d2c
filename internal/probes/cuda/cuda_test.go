package cuda

import (
	"slices"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

const mib = 1 << 20

// Per thread of the app's known calls (testdata/standin/app.c): the runtime
// calls go through the stand-in driver, and are counted once; the host-to-host
// cudaMemcpy does not, and the direct cuMemcpyAsync right after it is counted
// too.
const (
	launches         = 5 + 2 + 3 + 1              // cudaLaunchKernel, _ptsz, cuLaunchKernel, cuLaunchKernelEx
	mallocBytes      = (1 + 2 + 4 + 8 + 16) * mib // cudaMalloc x3, cuMemAlloc_v2 x2; a refused cudaMalloc adds nothing
	freeBytes        = (2 + 8) * mib              // cudaFree, cuMemFree_v2; cudaFree(NULL) adds nothing
	outstandingBytes = mallocBytes - freeBytes
)

var memcpyBytes = map[string]float64{
	"h2d":   1000 + 500 + 10,  // cudaMemcpy, cudaMemcpyAsync, cuMemcpyHtoD_v2
	"d2h":   2000 + 600 + 20,  // cudaMemcpy, cudaMemcpyAsync, cuMemcpyDtoHAsync_v2
	"d2d":   3000 + 30,        // cudaMemcpy, cuMemcpyDtoD_v2
	"other": 4000 + 5000 + 40, // cudaMemcpyDefault, cudaMemcpyHostToHost, cuMemcpyAsync
}

func (f *fixture) checkKnownCalls(t *testing.T, cg *testutil.Cgroup, threads float64) {
	t.Helper()
	in := map[string]string{"cgroup": cg.Path, "runtime": "cuda"}
	f.waitFor(t, "orb8_accelerator_kernel_launches_total", in, threads*launches)
	f.waitFor(t, "orb8_accelerator_malloc_bytes_total", in, threads*mallocBytes)
	f.waitFor(t, "orb8_accelerator_free_bytes_total", in, threads*freeBytes)
	f.waitFor(t, "orb8_accelerator_memory_outstanding_bytes", in, threads*outstandingBytes)
	for kind, bytes := range memcpyBytes {
		f.waitFor(t, "orb8_accelerator_memcpy_bytes_total", map[string]string{"cgroup": cg.Path, "runtime": "cuda", "kind": kind}, threads*bytes)
	}
}

func TestCountsCallsOfLibrariesLoadedAfterStart(t *testing.T) {
	f := start(t, time.Minute)
	dir := buildStandins(t)
	cg := testutil.NewCgroup(t)

	const threads = 2
	a := startApp(t, cg, dir, "calls", "2") // dlopens the libraries now
	loaded := time.Now()
	testutil.Eventually(t, 2*time.Second, func() bool { return f.hooked(t, a) },
		"libraries dlopened %v ago not hooked; series: %s", time.Since(loaded), testutil.Series(t, f.reg, "orb8_accelerator_libraries_hooked"))
	t.Logf("hooked %v after dlopen", time.Since(loaded).Round(time.Millisecond))

	a.proceed(t)
	a.expect(t, "done")
	f.checkKnownCalls(t, cg, threads)
	f.waitFor(t, "orb8_accelerator_memory_leak_suspected", map[string]string{"cgroup": cg.Path}, 0)

	// The process exits holding 21 MiB per thread: its allocations are released.
	a.exit(t)
	f.waitFor(t, "orb8_accelerator_memory_outstanding_bytes", map[string]string{"cgroup": cg.Path}, 0)
	f.waitFor(t, "orb8_accelerator_malloc_bytes_total", map[string]string{"cgroup": cg.Path}, threads*mallocBytes)
	f.waitFor(t, "orb8_accelerator_free_bytes_total", map[string]string{"cgroup": cg.Path}, threads*freeBytes)
	if n := len(mapKeys(t, f)); n != 0 {
		t.Fatalf("%d allocations still tracked after the process exited", n)
	}
}

func TestHooksLibrariesMappedBeforeStart(t *testing.T) {
	testutil.RequireRoot(t)
	dir := buildStandins(t)
	cg := testutil.NewCgroup(t)
	a := startApp(t, cg, dir, "calls", "1")

	f := start(t, time.Minute)
	if !f.librariesHooked(t) {
		t.Fatalf("libraries mapped before start not hooked by the first scan; series: %s", testutil.Series(t, f.reg, "orb8_accelerator_libraries_hooked"))
	}
	testutil.Eventually(t, time.Second, func() bool { return f.hooked(t, a) }, "the app's launches not hooked")
	a.proceed(t)
	a.expect(t, "done")
	f.checkKnownCalls(t, cg, 1)
}

// A full scan reads the maps files of the processes find_mappers names: the
// app that maps the stand-in libraries, not a process that maps none; every
// everyProcessScans-th scan (the one at start included) reads every
// process's. The test calls scanTargets beside Discover's goroutine, whose
// first full scan comes uprobe.FullScanEvery after the start.
func TestFullScanReadsProcessesThatMapLibraries(t *testing.T) {
	f := start(t, time.Minute)
	if err := f.probe.objs.Failed[cudaProgFindMappers]; err != nil {
		t.Skipf("this kernel does not run find_mappers (every full scan reads every process): %v", err)
	}
	dir := buildStandins(t)
	cg := testutil.NewCgroup(t)
	a := startApp(t, cg, dir, "calls", "1")
	app := a.Cmd.Process.Pid
	sleep := func() int {
		c := cg.Command(t, "sleep", "60")
		if err := c.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Process.Kill(); c.Wait() })
		return c.Process.Pid
	}
	other := sleep()

	pids, err := f.probe.attacher.mapperPIDs()
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(pids, app) || slices.Contains(pids, other) {
		t.Fatalf("find_mappers named %v: want the app %d among them, not %d, which maps no runtime library", pids, app, other)
	}
	if len(pids) != len(slices.Compact(slices.Sorted(slices.Values(pids)))) {
		t.Fatalf("find_mappers named a process twice: %v", pids)
	}

	// Scan 1 ran at start; scans 2 to 10 go by find_mappers, 11 reads all.
	for scan := 2; scan <= everyProcessScans+1; scan++ {
		targets, every, err := f.probe.attacher.scanTargets()
		if err != nil {
			t.Fatal(err)
		}
		want := scan == everyProcessScans+1
		if every != want || !slices.Contains(targets, app) || slices.Contains(targets, other) != want {
			t.Fatalf("scan %d reads %v (every process: %v): want the app %d, and the other %d only at every process", scan, targets,
				every, app, other)
		}
	}
}

// mapKeys lists the allocations the kernel tracks.
func mapKeys(t *testing.T, f *fixture) []cudaAllocKey {
	t.Helper()
	var (
		k    cudaAllocKey
		v    cudaAlloc
		keys []cudaAllocKey
	)
	it := f.probe.bpf.Allocs.Iterate()
	for it.Next(&k, &v) {
		keys = append(keys, k)
	}
	if err := it.Err(); err != nil {
		t.Fatal(err)
	}
	return keys
}
