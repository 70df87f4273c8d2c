//go:build cgo

package nvml

import (
	"context"
	"log/slog"
	"maps"
	"net"
	"path/filepath"
	"strings"
	"testing"

	"github.com/NVIDIA/go-nvml/pkg/nvml"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/dgxh100"
	"github.com/NVIDIA/go-nvml/pkg/nvml/mock/server"
	"github.com/prometheus/client_golang/prometheus"
	"google.golang.org/grpc"
	podresources "k8s.io/kubelet/pkg/apis/podresources/v1"

	"github.com/orb8/orb8/internal/accelerator"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

const gib = 1 << 30

// utilPercent is each mock GPU's utilization: GPU 0 busy, GPU 1 a quarter, the rest half.
func utilPercent(i int) uint32 {
	switch i {
	case 0:
		return 100
	case 1:
		return 25
	}
	return 50
}

// gpuProcess is one process a mock GPU runs.
type gpuProcess struct {
	pid       uint32
	memory    uint64
	smSamples []nvml.ProcessUtilizationSample
}

// mockDGX is an 8-GPU H100 machine whose GPUs report fixed readings; procs
// says which processes each GPU runs. since records the timestamps the probe
// asked process samples from.
func mockDGX(procs map[int][]gpuProcess, since map[int][]uint64) *server.Server {
	s := dgxh100.New()
	for i, h := range s.Devices {
		d := h.(*server.Device)
		d.MemoryInfo.Used = uint64(i+1) * gib
		d.GetUtilizationRatesFunc = func() (nvml.Utilization, nvml.Return) {
			return nvml.Utilization{Gpu: utilPercent(i), Memory: 10}, nvml.SUCCESS
		}
		d.GetTemperatureFunc = func(nvml.TemperatureSensors) (uint32, nvml.Return) { return 60 + uint32(i), nvml.SUCCESS }
		d.GetPowerUsageFunc = func() (uint32, nvml.Return) { return 350500, nvml.SUCCESS } // milliwatts
		d.GetPcieThroughputFunc = func(c nvml.PcieUtilCounter) (uint32, nvml.Return) {
			if c == nvml.PCIE_UTIL_TX_BYTES {
				return 1000, nvml.SUCCESS // KB/s
			}
			return 3000, nvml.SUCCESS
		}
		d.GetCurrentClocksEventReasonsFunc = func() (uint64, nvml.Return) {
			if i == 2 {
				return nvml.ClocksEventReasonSwPowerCap | nvml.ClocksThrottleReasonHwThermalSlowdown, nvml.SUCCESS
			}
			return nvml.ClocksEventReasonNone, nvml.SUCCESS
		}
		d.GetComputeRunningProcessesFunc = func() ([]nvml.ProcessInfo, nvml.Return) {
			var out []nvml.ProcessInfo
			for _, p := range procs[i] {
				out = append(out, nvml.ProcessInfo{Pid: p.pid, UsedGpuMemory: p.memory})
			}
			return out, nvml.SUCCESS
		}
		d.GetProcessUtilizationFunc = func(t uint64) ([]nvml.ProcessUtilizationSample, nvml.Return) {
			since[i] = append(since[i], t)
			var out []nvml.ProcessUtilizationSample
			for _, p := range procs[i] {
				for _, s := range p.smSamples {
					if s.TimeStamp > t {
						out = append(out, s)
					}
				}
			}
			if len(out) == 0 {
				return nil, nvml.ERROR_NOT_FOUND
			}
			return out, nvml.SUCCESS
		}
	}
	return s
}

// fakeKubelet answers List with fixed GPU assignments.
type fakeKubelet struct {
	podresources.UnimplementedPodResourcesListerServer
	resp *podresources.ListPodResourcesResponse
}

func (f *fakeKubelet) List(context.Context, *podresources.ListPodResourcesRequest) (*podresources.ListPodResourcesResponse, error) {
	return f.resp, nil
}

func serveKubelet(t *testing.T, pods ...*podresources.PodResources) string {
	t.Helper()
	socket := filepath.Join(t.TempDir(), "kubelet.sock")
	l, err := net.Listen("unix", socket)
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	podresources.RegisterPodResourcesListerServer(srv, &fakeKubelet{resp: &podresources.ListPodResourcesResponse{PodResources: pods}})
	go srv.Serve(l)
	t.Cleanup(srv.Stop)
	return socket
}

func gpuPod(namespace, name, container string, uuids ...string) *podresources.PodResources {
	return &podresources.PodResources{Namespace: namespace, Name: name, Containers: []*podresources.ContainerResources{{
		Name: container, Devices: []*podresources.ContainerDevices{{ResourceName: "nvidia.com/gpu", DeviceIds: uuids}},
	}}}
}

func startMock(t *testing.T, lib nvml.Interface, socket string) (*Probe, *prometheus.Registry) {
	t.Helper()
	res := testutil.Resolver(t)
	opts := DefaultOptions()
	opts.PodResourcesSocket = socket
	p := newWithLibrary(opts, lib, "/proc")
	env := probe.Env{Resolver: res, Events: events.NewBus(), Log: slog.Default(), CgroupRoot: res.Root()}
	if err := p.Start(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
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

func TestDeviceSeriesFromNVML(t *testing.T) {
	s := mockDGX(nil, map[int][]uint64{})
	_, reg := startMock(t, s, filepath.Join(t.TempDir(), "no-kubelet.sock"))
	uuid2, _ := s.Devices[2].GetUUID()
	gpu2 := map[string]string{"vendor": "nvidia", "device": "2", "uuid": uuid2, "model": "NVIDIA H100 80GB HBM3"}
	with := func(k, v string) map[string]string {
		m := map[string]string{k: v}
		for a, b := range gpu2 {
			m[a] = b
		}
		return m
	}
	expect(t, reg, "orb8_accelerator_utilization_ratio", gpu2, 0.5)
	expect(t, reg, "orb8_accelerator_memory_used_bytes", gpu2, 3*gib)
	expect(t, reg, "orb8_accelerator_memory_total_bytes", gpu2, 80*gib) // H100_SXM5_80GB in the mock
	expect(t, reg, "orb8_accelerator_temperature_celsius", gpu2, 62)
	expect(t, reg, "orb8_accelerator_power_watts", gpu2, 350.5)
	expect(t, reg, "orb8_accelerator_pcie_bytes_per_second", with("direction", "tx"), 1000*1024)
	expect(t, reg, "orb8_accelerator_pcie_bytes_per_second", with("direction", "rx"), 3000*1024)
	expect(t, reg, "orb8_accelerator_throttled", with("reason", "sw_power_cap"), 1)
	expect(t, reg, "orb8_accelerator_throttled", with("reason", "hw_thermal_slowdown"), 1)
	expect(t, reg, "orb8_accelerator_throttled", with("reason", "gpu_idle"), 0)
	expect(t, reg, "orb8_accelerator_throttled", map[string]string{"device": "0", "reason": "sw_power_cap"}, 0)
	// GPU 0 at 100%, GPU 1 at 25%: (1 - 0.25) / 1.
	expect(t, reg, "orb8_accelerator_imbalance_ratio", map[string]string{"vendor": "nvidia"}, 0.75)
}

func TestProcessesAttributedToTheirCgroup(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	var pids []uint32
	for range 2 {
		cmd := cg.Command(t, "/bin/sleep", "60")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		pids = append(pids, uint32(cmd.Process.Pid))
	}
	const gone = 1 << 30 // a pid no process has: exited since NVML listed it
	procs := map[int][]gpuProcess{
		0: {
			{pid: pids[0], memory: 3 * gib, smSamples: []nvml.ProcessUtilizationSample{{Pid: pids[0], TimeStamp: 100, SmUtil: 30}, {Pid: pids[0], TimeStamp: 200, SmUtil: 45}}},
			{pid: pids[1], memory: 2 * gib, smSamples: []nvml.ProcessUtilizationSample{{Pid: pids[1], TimeStamp: 150, SmUtil: 5}}},
			{pid: gone, memory: 7 * gib},
		},
		1: {{pid: pids[1], memory: 1 * gib}},
	}
	since := map[int][]uint64{}
	s := mockDGX(procs, since)
	p, reg := startMock(t, s, filepath.Join(t.TempDir(), "no-kubelet.sock"))
	uuid0, _ := s.Devices[0].GetUUID()
	uuid1, _ := s.Devices[1].GetUUID()

	on := func(gpu, uuid string) map[string]string {
		return map[string]string{"cgroup": cg.Path, "vendor": "nvidia", "device": gpu, "uuid": uuid, "namespace": "", "pod": ""}
	}
	expect(t, reg, "orb8_workload_accelerator_memory_used_bytes", on("0", uuid0), 5*gib)
	expect(t, reg, "orb8_workload_accelerator_utilization_ratio", on("0", uuid0), 0.5) // newest samples: 45% + 5%
	expect(t, reg, "orb8_workload_accelerator_memory_used_bytes", on("1", uuid1), 1*gib)
	expect(t, reg, "orb8_workload_accelerator_utilization_ratio", on("1", uuid1), 0) // running, no sample
	if series := testutil.Series(t, reg, "orb8_workload_accelerator_memory_used_bytes"); strings.Contains(series, "/unknown/") {
		t.Fatalf("memory of an exited process attributed: %s", series)
	}

	// The next poll asks only for samples newer than those read.
	if err := p.poll(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := since[0]; len(got) != 2 || got[0] != 0 || got[1] != 200 {
		t.Fatalf("process samples asked since %v, want [0 200]", got)
	}
	expect(t, reg, "orb8_workload_accelerator_memory_used_bytes", on("0", uuid0), 5*gib)
	expect(t, reg, "orb8_workload_accelerator_utilization_ratio", on("0", uuid0), 0) // no new sample
}

func TestPodGPUsFromKubelet(t *testing.T) {
	s := mockDGX(nil, map[int][]uint64{})
	uuid := func(i int) string { u, _ := s.Devices[i].GetUUID(); return u }
	socket := serveKubelet(t,
		gpuPod("ml", "trainer", "main", uuid(0), uuid(1)),
		gpuPod("ml", "notebook", "jupyter", uuid(7)+"::3"), // a time-sliced replica of GPU 7
		gpuPod("ml", "elsewhere", "main", "GPU-not-on-this-node"),
	)
	_, reg := startMock(t, s, socket)
	trainer0 := map[string]string{"namespace": "ml", "pod": "trainer", "container": "main", "vendor": "nvidia", "device": "0", "uuid": uuid(0)}
	trainer1 := map[string]string{"namespace": "ml", "pod": "trainer", "container": "main", "vendor": "nvidia", "device": "1", "uuid": uuid(1)}
	notebook := map[string]string{"namespace": "ml", "pod": "notebook", "container": "jupyter", "vendor": "nvidia", "device": "7", "uuid": uuid(7)}
	expect(t, reg, "orb8_pod_accelerator_allocated", without(trainer0, "uuid"), 1)
	expect(t, reg, "orb8_pod_accelerator_allocated", without(trainer1, "uuid"), 1)
	expect(t, reg, "orb8_pod_accelerator_allocated", without(notebook, "uuid"), 1)
	expect(t, reg, "orb8_pod_accelerator_utilization_ratio", trainer0, 1)
	expect(t, reg, "orb8_pod_accelerator_utilization_ratio", trainer1, 0.25)
	expect(t, reg, "orb8_pod_accelerator_memory_used_bytes", notebook, 8*gib)
	expect(t, reg, "orb8_pod_accelerator_imbalance_ratio", map[string]string{"namespace": "ml", "pod": "trainer", "vendor": "nvidia"}, 0.75)
	if _, ok := testutil.Sample(t, reg, "orb8_pod_accelerator_imbalance_ratio", map[string]string{"pod": "notebook"}); ok {
		t.Error("imbalance exported for a pod with one GPU")
	}
	if _, ok := testutil.Sample(t, reg, "orb8_pod_accelerator_allocated", map[string]string{"pod": "elsewhere"}); ok {
		t.Error("allocation of a GPU this node lacks exported")
	}
}

// without is labels less the named ones.
func without(labels map[string]string, names ...string) map[string]string {
	out := maps.Clone(labels)
	for _, n := range names {
		delete(out, n)
	}
	return out
}
