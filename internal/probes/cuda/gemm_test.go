package cuda

import (
	"testing"
	"time"

	"github.com/orb8/orb8/internal/testutil"
)

// TestCountsGEMMsOnce: the app's known GEMM calls (testdata/standin/app.c),
// each cuBLAS one computed by the stand-in cuBLASLt, which launches a kernel
// through the runtime: counted once each, with their FLOPs, and their
// launches counted too.
func TestCountsGEMMsOnce(t *testing.T) {
	f := start(t, time.Minute)
	dir := buildStandins(t)
	cg := testutil.NewCgroup(t)
	a := startApp(t, cg, dir, "gemm", "3")
	testutil.Eventually(t, 2*time.Second, func() bool { return f.hooked(t, a, "cublas", "cublasLt") },
		"libraries not hooked; series: %s", testutil.Series(t, f.reg, "orb8_accelerator_libraries_hooked"))
	a.proceed(t)
	a.expect(t, "done")

	const (
		threads = 3
		gemms   = 5 + 1                     // cuBLAS calls, one direct cublasLtMatmul
		flops   = 48 + 48 + 2000 + 80 + 384 // Sgemm 2x3x4, Zgemm 1x2x3 complex, GemmEx 10^3, batches of 5 and 3
	)
	in := map[string]string{"cgroup": cg.Path}
	f.waitFor(t, "orb8_accelerator_gemm_calls_total", in, threads*gemms)
	f.waitFor(t, "orb8_accelerator_gemm_flops_total", in, threads*flops)
	f.waitFor(t, "orb8_accelerator_kernel_launches_total", in, threads*gemms)
}
