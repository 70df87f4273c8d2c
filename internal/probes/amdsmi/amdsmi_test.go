//go:build cgo

package amdsmi

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/accelerator"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/gpu"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

const gib = 1 << 30

var (
	standInOnce sync.Once
	standInPath string
	standInErr  error
)

// standIn builds the stand-in libamd_smi.so once per test binary.
func standIn(t *testing.T) string {
	t.Helper()
	standInOnce.Do(func() {
		dir, err := os.MkdirTemp("", "orb8-amdsmi-")
		if err != nil {
			standInErr = err
			return
		}
		standInPath = filepath.Join(dir, "libamd_smi.so")
		out, err := exec.Command("cc", "-shared", "-fPIC", "-fcf-protection=full", "-Wall", "-Werror",
			"-o", standInPath, "testdata/amdsmi_standin.c").CombinedOutput()
		if err != nil {
			standInErr = fmt.Errorf("building the stand-in: %v\n%s", err, out)
		}
	})
	if standInErr != nil {
		t.Fatal(standInErr)
	}
	return standInPath
}

func env(t *testing.T) probe.Env {
	res := testutil.Resolver(t)
	return probe.Env{Resolver: res, Events: events.NewBus(), Log: slog.Default(), CgroupRoot: res.Root()}
}

// start starts the probe over the stand-in, with the kubelet at socket.
func start(t *testing.T, socket string) (*Probe, *prometheus.Registry) {
	t.Helper()
	opts := DefaultOptions()
	opts.Library = standIn(t)
	p := newProbe(opts, socket, "/proc")
	if err := p.Start(context.Background(), env(t)); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Error(err)
		}
	})
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(testutil.Collector(t, p), accelerator.CollectorOf(p))
	return p, reg
}

func expect(t *testing.T, reg prometheus.Gatherer, name string, labels map[string]string, want float64) {
	t.Helper()
	got, ok := testutil.Sample(t, reg, name, labels)
	if !ok || got != want {
		t.Errorf("%s%v = %v (present %v), want %v; series: %s", name, labels, got, ok, want, testutil.Series(t, reg, name))
	}
}

func noKubelet(t *testing.T) string { return filepath.Join(t.TempDir(), "no-kubelet.sock") }

const (
	uuid0 = "00ff74a1-0000-1000-80da-5c2b8e4f9a00"
	uuid1 = "01ff74a1-0000-1000-80da-5c2b8e4f9a01"
)

func gpuLabels(device, uuid string, extra ...string) map[string]string {
	m := map[string]string{"vendor": "amd", "device": device, "uuid": uuid, "model": "AMD Instinct MI300X"}
	for i := 0; i+1 < len(extra); i += 2 {
		m[extra[i]] = extra[i+1]
	}
	return m
}

func TestDeviceSeriesFromAMDSMI(t *testing.T) {
	_, reg := start(t, noKubelet(t))
	gpu0, gpu1 := gpuLabels("0", uuid0), gpuLabels("1", uuid1)
	expect(t, reg, "orb8_accelerator_utilization_ratio", gpu0, 0.75)
	expect(t, reg, "orb8_accelerator_utilization_ratio", gpu1, 0.25)
	expect(t, reg, "orb8_accelerator_memory_used_bytes", gpu0, 3*gib)
	expect(t, reg, "orb8_accelerator_memory_used_bytes", gpu1, 5*gib)
	expect(t, reg, "orb8_accelerator_memory_total_bytes", gpu1, 192*gib)
	expect(t, reg, "orb8_accelerator_temperature_celsius", gpu0, 55) // hotspot
	expect(t, reg, "orb8_accelerator_temperature_celsius", gpu1, 56) // edge: no hotspot sensor
	expect(t, reg, "orb8_accelerator_power_watts", gpu0, 750)        // current
	expect(t, reg, "orb8_accelerator_power_watts", gpu1, 300)        // average: no current reading
	expect(t, reg, "orb8_accelerator_pcie_bytes_per_second", gpuLabels("0", uuid0, "direction", "tx"), 1e6)
	expect(t, reg, "orb8_accelerator_pcie_bytes_per_second", gpuLabels("0", uuid0, "direction", "rx"), 3e6)
	if _, ok := testutil.Sample(t, reg, "orb8_accelerator_pcie_bytes_per_second", map[string]string{"device": "1"}); ok {
		t.Error("PCIe throughput exported for a GPU whose amd-smi does not support it")
	}
	expect(t, reg, "orb8_accelerator_throttled", gpuLabels("0", uuid0, "reason", "power"), 1)
	expect(t, reg, "orb8_accelerator_throttled", gpuLabels("0", uuid0, "reason", "thermal"), 1)
	expect(t, reg, "orb8_accelerator_throttled", gpuLabels("0", uuid0, "reason", "current"), 0)
	expect(t, reg, "orb8_accelerator_throttled", gpuLabels("1", uuid1, "reason", "thermal"), 0)
	expect(t, reg, "orb8_accelerator_imbalance_ratio", map[string]string{"vendor": "amd"}, (0.75-0.25)/0.75)
}

// sleeper starts a process in cg and returns its pid.
func sleeper(t *testing.T, cg *testutil.Cgroup) uint32 {
	t.Helper()
	cmd := cg.Command(t, "/bin/sleep", "60")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return uint32(cmd.Process.Pid)
}

func TestProcessesAttributedToTheirCgroup(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	a, b := sleeper(t, cg), sleeper(t, cg)
	const gone = 1 << 30 // a pid no process has: exited since amd-smi listed it
	t.Setenv("ORB8_AMDSMI_STANDIN_PROCS", fmt.Sprintf("0:%d:sleep:%d:1000,0:%d:sleep:%d:0,1:%d:sleep:%d:0,0:%d:gone:%d:0,1:%d:python3:%d:0",
		a, 3*gib, b, 2*gib, b, 1*gib, gone, 7*gib, a, 9*gib))
	p, reg := start(t, noKubelet(t))
	on := func(device, uuid string) map[string]string {
		return map[string]string{"cgroup": cg.Path, "namespace": "", "pod": "", "vendor": "amd", "device": device, "uuid": uuid}
	}
	expect(t, reg, "orb8_workload_accelerator_memory_used_bytes", on("0", uuid0), 5*gib)
	// GPU 1 lists a record whose name is not the process's: skipped.
	expect(t, reg, "orb8_workload_accelerator_memory_used_bytes", on("1", uuid1), 1*gib)
	expect(t, reg, "orb8_workload_accelerator_utilization_ratio", on("0", uuid0), 0) // one engine sample so far
	if s := testutil.Series(t, reg, "orb8_workload_accelerator_memory_used_bytes"); strings.Contains(s, "unknown") {
		t.Fatalf("memory of an exited process attributed: %s", s)
	}

	// Engine time: 0.5 s of graphics work in one second of wall time.
	now := time.Now()
	procs := []process{{name: "sleep", pid: a, vram: gib, gfxNs: 1e9}, {name: "sleep", pid: b, vram: gib, gfxNs: 2e9}}
	g := p.gpus[0]
	p.attribute(g, procs, now, map[workloadGPU]float64{}, map[workloadGPU]float64{}, map[procKey]bool{})
	procs[0].gfxNs += 3e8
	procs[1].gfxNs += 2e8
	busy := map[workloadGPU]float64{}
	p.attribute(g, procs, now.Add(time.Second), map[workloadGPU]float64{}, busy, map[procKey]bool{})
	for k, v := range busy {
		if k.w.Path != cg.Path || k.gpu != "0" || v != 0.5 {
			t.Errorf("engine utilization %+v = %v, want cgroup %s GPU 0 at 0.5", k, v, cg.Path)
		}
	}
	if len(busy) != 1 {
		t.Errorf("engine utilization of %d workloads, want 1: %v", len(busy), busy)
	}
}

func TestPodGPUsFromKubelet(t *testing.T) {
	socket := testutil.ServePodResources(t,
		testutil.PodDevices("ml", "trainer", "main", gpu.AMDGPUResource, "0000:c1:00.0", "0000:C2:00.0"),
		testutil.PodDevices("ml", "notebook", "jupyter", gpu.AMDGPUResource, uuid1),
		testutil.PodDevices("ml", "elsewhere", "main", gpu.AMDGPUResource, "0000:99:00.0"),
		testutil.PodDevices("ml", "cuda", "main", "nvidia.com/gpu", "GPU-aaa"),
	)
	_, reg := start(t, socket)
	pod := func(name, container, device string) map[string]string {
		return map[string]string{"namespace": "ml", "pod": name, "container": container, "vendor": "amd", "device": device}
	}
	expect(t, reg, "orb8_pod_accelerator_allocated", pod("trainer", "main", "0"), 1)
	expect(t, reg, "orb8_pod_accelerator_allocated", pod("trainer", "main", "1"), 1)
	expect(t, reg, "orb8_pod_accelerator_allocated", pod("notebook", "jupyter", "1"), 1)
	if s := testutil.Series(t, reg, "orb8_pod_accelerator_allocated"); strings.Count(s, "{") != 3 {
		t.Errorf("allocations of another node's or vendor's devices exported: %s", s)
	}
}

func TestNoLibraryIsAnError(t *testing.T) {
	opts := DefaultOptions()
	opts.Library = filepath.Join(t.TempDir(), "libamd_smi.so")
	err := newProbe(opts, noKubelet(t), "/proc").Start(context.Background(), env(t))
	if err == nil || !strings.Contains(err.Error(), "amd-smi") {
		t.Fatalf("Start without the library: %v, want an amd-smi error", err)
	}
}

func TestFormatBDF(t *testing.T) {
	for b, want := range map[uint64]string{0xc100: "0000:c1:00.0", 0x1_2345_ff_3f: "12345:ff:07.7"} {
		if got := formatBDF(b); got != want {
			t.Errorf("formatBDF(%#x) = %s, want %s", b, got, want)
		}
	}
}
