package cli_test

import (
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/orb8/orb8/internal/config"
	"github.com/orb8/orb8/internal/probes/cuda"
	"github.com/orb8/orb8/internal/probes/cuda/cudatest"
	"github.com/orb8/orb8/internal/testutil"
)

// TestCUDAKernelsByName: a CUDA application (the stand-in runtime and
// driver, dlopened after the agent started, in a test cgroup) launches
// named kernels; `orb8 trace cuda` prints each launch by its demangled
// name, and `orb8 workloads` lists the workload's top kernels, exactly.
func TestCUDAKernelsByName(t *testing.T) {
	addr, a := startAgentWithProbes(t, func(*config.Config) {}, cuda.New(exactCUDA()))
	bin := buildOrb8(t)
	dir := cudatest.Build(t)
	cg := testutil.NewCgroup(t)
	want := map[string]int{"demo::scale(float*, int)": 5, "demo::shift(float*, int)": 3, "demo::fill(float*)": 2, "demo::gemm()": 2, "demo::reduce()": 4}

	trace := exec.Command(bin, "trace", "cuda", "--count", "16", "--agent", addr, "--cgroup", cg.Path)
	var stdout, stderr strings.Builder
	trace.Stdout, trace.Stderr = &stdout, &stderr
	if err := trace.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { trace.Process.Kill(); trace.Wait() })
	testutil.Eventually(t, 5*time.Second, func() bool { return openStreams(t, addr) == 1 }, "orb8 trace did not open its stream; stderr: %s", &stderr)

	app := testutil.StartPiped(t, cg.Command(t, filepath.Join(dir, "kernels"), dir))
	if line, err := app.Stdout.ReadString('\n'); err != nil || line != "loaded\n" {
		t.Fatalf("kernels app said %q (%v)", line, err)
	}
	// Exact: the launch probes are attached with the libraries, not by the
	// sampler (the probe's own tests cover that).
	testutil.Eventually(t, 3*time.Second, func() bool {
		for _, lib := range []string{"cudart", "cuda"} {
			if n, _ := testutil.Sample(t, a.Gatherer(), "orb8_accelerator_libraries_hooked", map[string]string{"library": lib}); n != 1 {
				return false
			}
		}
		return true
	}, "the stand-in libraries were not hooked")
	if _, err := app.Stdin.Write([]byte("go\n")); err != nil {
		t.Fatal(err)
	}
	if line, err := app.Stdout.ReadString('\n'); err != nil || line != "done\n" {
		t.Fatalf("kernels app said %q (%v)", line, err)
	}

	if err := trace.Wait(); err != nil {
		t.Fatalf("orb8 trace cuda: %v; stderr: %s", err, &stderr)
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	got := map[string]int{}
	for _, l := range lines {
		for name := range want {
			if strings.Contains(l, " "+name+"  grid=") {
				got[name]++
			}
		}
	}
	for name, n := range want {
		if got[name] != n {
			t.Errorf("orb8 trace cuda printed %d launches of %s, want %d:\n%s", got[name], name, n, stdout.String())
		}
	}
	if !strings.Contains(stdout.String(), "demo::scale(float*, int)  grid=4x2x1 block=128x1x1 shared=64 stream=0x10 api=runtime") {
		t.Errorf("orb8 trace cuda: no scale launch with its dimensions and stream:\n%s", stdout.String())
	}

	var top map[string]float64
	testutil.Eventually(t, 3*time.Second, func() bool {
		out, err := exec.Command(bin, "workloads", "-o", "json", "--agent", addr, "--cgroup", cg.Path).Output()
		if err != nil {
			return false
		}
		var w struct {
			TopKernels []struct {
				Kernel, Runtime string
				Launches        float64
			} `json:"topKernels"`
		}
		if json.Unmarshal(out, &w) != nil {
			return false
		}
		top = map[string]float64{}
		for _, k := range w.TopKernels {
			if k.Runtime == "cuda" {
				top[k.Kernel] = k.Launches
			}
		}
		for name, n := range want {
			if top[name] != float64(n) {
				return false
			}
		}
		return len(top) == len(want)
	}, "orb8 workloads top kernels %v, want %v", top, want)
}

func exactCUDA() cuda.Options {
	o := cuda.DefaultOptions()
	o.Exact = true
	return o
}
