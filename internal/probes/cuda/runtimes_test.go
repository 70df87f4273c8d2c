package cuda

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

// buildRuntimeStandins compiles the stand-in HIP runtime (libamdhip64.so),
// Neuron runtime (libnrt.so) and their app into a temporary directory, like
// the CUDA stand-ins: every function opens with endbr64.
func buildRuntimeStandins(t testing.TB) string {
	t.Helper()
	src, err := filepath.Abs("testdata/standin")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for _, step := range [][]string{
		{"-shared", "-fPIC", "-o", dir + "/libamdhip64.so", src + "/hip.c"},
		{"-shared", "-fPIC", "-o", dir + "/libnrt.so", src + "/nrt.c"},
		{"-o", dir + "/rtapp", src + "/rtapp.c", "-ldl"},
	} {
		gcc(t, append(append([]string{}, cflags...), step...)...)
	}
	return dir
}

// runRuntimeApp runs the stand-in app of a runtime ("hip", "nrt") in a new
// test cgroup, once its library (dlopened after the probe started) is
// hooked, and returns the app, done with its calls.
func (f *fixture) runRuntimeApp(t *testing.T, runtime, library, calls string) (*app, *testutil.Cgroup) {
	t.Helper()
	dir := buildRuntimeStandins(t)
	cg := testutil.NewCgroup(t)
	a := startCommand(t, cg.Command(t, filepath.Join(dir, "rtapp"), dir, runtime, calls))
	hooked := map[string]string{"runtime": runtime, "library": library}
	testutil.Eventually(t, 2*time.Second, func() bool { return f.value(t, "orb8_accelerator_libraries_hooked", hooked) == 1 },
		"%s dlopened after start not hooked; series: %s", library, testutil.Series(t, f.reg, "orb8_accelerator_libraries_hooked"))
	a.proceed(t)
	a.expect(t, "done")
	return a, cg
}

// expectRuntime waits for the runtime's series of the cgroup to reach want
// (family -> value; memcpy families by kind), and checks that no other
// runtime counted its calls.
func (f *fixture) expectRuntime(t *testing.T, cg *testutil.Cgroup, runtime string, want map[string]float64, memcpy map[string]float64) {
	t.Helper()
	in := map[string]string{"cgroup": cg.Path, "runtime": runtime}
	for name, v := range want {
		f.waitFor(t, name, in, v)
	}
	for kind, v := range memcpy {
		f.waitFor(t, "orb8_accelerator_memcpy_bytes_total", map[string]string{"cgroup": cg.Path, "runtime": runtime, "kind": kind}, v)
	}
	for _, other := range runtimes {
		if other == runtime {
			continue
		}
		if _, ok := testutil.Sample(t, f.reg, "orb8_accelerator_kernel_launches_total", map[string]string{"cgroup": cg.Path, "runtime": other}); ok {
			t.Errorf("the %s app's cgroup has %s series: %s", runtime, other, testutil.Series(t, f.reg, "orb8_accelerator_kernel_launches_total"))
		}
	}
}

func TestHIPCalls(t *testing.T) {
	f := start(t, time.Minute)
	for _, rt := range []string{"hip", "nrt"} { // no such library mapped yet: reported, none hooked
		for _, lib := range libraries {
			if runtimes[lib.runtime] == rt {
				if v, ok := testutil.Sample(t, f.reg, "orb8_accelerator_libraries_hooked", map[string]string{"runtime": rt, "library": lib.name}); !ok || v != 0 {
					t.Errorf("%s library %s hooked = %v (present %v) before any process mapped it, want 0", rt, lib.name, v, ok)
				}
			}
		}
	}
	a, cg := f.runRuntimeApp(t, "hip", "amdhip64", "calls")
	// hipMemcpy reaches hipMemcpyAsync and hipLaunchKernel reaches
	// hipModuleLaunchKernel inside the runtime: counted once.
	f.expectRuntime(t, cg, "hip", map[string]float64{
		"orb8_accelerator_kernel_launches_total":    9,
		"orb8_accelerator_malloc_bytes_total":       3 * mib,
		"orb8_accelerator_free_bytes_total":         1 * mib,
		"orb8_accelerator_memory_outstanding_bytes": 2 * mib,
	}, map[string]float64{"h2d": 8192, "d2h": 0, "d2d": 0, "other": 0})

	// It exits holding 2 MiB: released.
	a.exit(t)
	f.waitFor(t, "orb8_accelerator_memory_outstanding_bytes", map[string]string{"cgroup": cg.Path, "runtime": "hip"}, 0)
	f.waitFor(t, "orb8_accelerator_malloc_bytes_total", map[string]string{"cgroup": cg.Path, "runtime": "hip"}, 3*mib)
}

func TestHIPCallVariants(t *testing.T) {
	f := start(t, time.Minute)
	_, cg := f.runRuntimeApp(t, "hip", "amdhip64", "variants")
	f.expectRuntime(t, cg, "hip", map[string]float64{
		"orb8_accelerator_kernel_launches_total":    4,       // hipModuleLaunchKernel, hipExtModuleLaunchKernel, hipGraphLaunch, hipLaunchCooperativeKernel
		"orb8_accelerator_malloc_bytes_total":       4 * mib, // hipMallocAsync 1, hipMallocManaged 2, hipExtMallocWithFlags 1; the refused hipMalloc adds nothing
		"orb8_accelerator_free_bytes_total":         1 * mib, // hipFreeAsync; hipFree(NULL) adds nothing
		"orb8_accelerator_memory_outstanding_bytes": 3 * mib,
	}, map[string]float64{"h2d": 420, "d2h": 344, "d2d": 805, "other": 50}) // hipMemcpyWithStream 200 d2h; HtoD, DtoH, DtoD and their Async forms
}

func TestNeuronCalls(t *testing.T) {
	f := start(t, time.Minute)
	a, cg := f.runRuntimeApp(t, "nrt", "nrt", "calls")
	f.expectRuntime(t, cg, "nrt", map[string]float64{
		"orb8_accelerator_kernel_launches_total":    7,
		"orb8_accelerator_malloc_bytes_total":       3 * mib,
		"orb8_accelerator_free_bytes_total":         1 * mib,
		"orb8_accelerator_memory_outstanding_bytes": 2 * mib,
		"orb8_accelerator_models_loaded":            1,
	}, nil)
	a.exit(t)
	f.waitFor(t, "orb8_accelerator_memory_outstanding_bytes", map[string]string{"cgroup": cg.Path, "runtime": "nrt"}, 0)
	f.waitFor(t, "orb8_accelerator_models_loaded", map[string]string{"cgroup": cg.Path, "runtime": "nrt"}, 0)
}

func TestNeuronCallVariants(t *testing.T) {
	f := start(t, time.Minute)
	_, cg := f.runRuntimeApp(t, "nrt", "nrt", "variants")
	f.expectRuntime(t, cg, "nrt", map[string]float64{
		"orb8_accelerator_kernel_launches_total":    5,       // nrt_execute_repeat(5)
		"orb8_accelerator_malloc_bytes_total":       2 * mib, // device tensors only: host, virtual and refused ones add nothing
		"orb8_accelerator_free_bytes_total":         1 * mib, // the host tensor's free adds nothing
		"orb8_accelerator_memory_outstanding_bytes": 1 * mib,
		"orb8_accelerator_models_loaded":            2, // 2 loaded, 1 with collectives, 1 unloaded; the refused load adds nothing
	}, nil)
}
