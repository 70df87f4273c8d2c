package neuron

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/accelerator"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/gpu"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

const mib = 1 << 20

// copyTree copies a fixture /sys into a temporary directory the test may
// change.
func copyTree(t *testing.T, fixture string) string {
	t.Helper()
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(filepath.Join("testdata", fixture))); err != nil {
		t.Fatal(err)
	}
	return dst
}

func start(t *testing.T, sys, socket string) (*Probe, *prometheus.Registry) {
	t.Helper()
	res := testutil.Resolver(t)
	p := newProbe(Options{Interval: time.Hour}, socket, sys) // polls only when the test does
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

// addTimeInUse adds microseconds to a core's nc_time_in_use total,
// wherever the tree keeps it.
func addTimeInUse(t *testing.T, p *Probe, device, core int, us uint64) {
	t.Helper()
	for _, d := range p.devices {
		for _, c := range d.cores {
			if d.index != device || c.index != core {
				continue
			}
			v, err := readCounter(c.timeFile)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(c.timeFile, []byte(strconv.FormatUint(v+us, 10)+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
			return
		}
	}
	t.Fatalf("no core %d of device %d", core, device)
}

// checkFixture checks the series of the fixture's two devices of two
// cores: memory as the fixture holds it, and utilization over two seconds
// in which core 0.0 ran 0.5 s, 0.1 1 s, 1.0 2 s and 1.1 not at all.
func checkFixture(t *testing.T, fixture, layout string) {
	p, reg := start(t, copyTree(t, fixture), filepath.Join(t.TempDir(), "no-kubelet.sock"))
	dev := func(d string, extra ...string) map[string]string {
		m := map[string]string{"vendor": "aws", "device": d, "uuid": "5a0c2f1e8d00000" + d, "model": "Trainium"}
		for i := 0; i+1 < len(extra); i += 2 {
			m[extra[i]] = extra[i+1]
		}
		return m
	}
	// Each core: tensors (2 device + core + 1) GiB, constants 512 MiB,
	// model code 100 MiB, DMA rings 1 MiB.
	const other = (512 + 100 + 1) * mib
	expect(t, reg, "orb8_accelerator_core_memory_used_bytes", dev("0", "core", "1"), 2*1024*mib+other)
	expect(t, reg, "orb8_accelerator_memory_used_bytes", dev("0"), 3*1024*mib+2*other)
	expect(t, reg, "orb8_accelerator_memory_used_bytes", dev("1"), 7*1024*mib+2*other)
	expect(t, reg, "orb8_neuron_driver_info", map[string]string{"layout": layout}, 1)
	if s := testutil.Series(t, reg, "orb8_accelerator_utilization_ratio"); s != "" {
		t.Errorf("utilization after one reading: %s", s)
	}

	t0 := time.Now().Add(time.Hour) // after Start's poll
	p.poll(context.Background(), t0)
	addTimeInUse(t, p, 0, 0, 500_000)
	addTimeInUse(t, p, 0, 1, 1_000_000)
	addTimeInUse(t, p, 1, 0, 2_000_000)
	p.poll(context.Background(), t0.Add(2*time.Second))
	expect(t, reg, "orb8_accelerator_core_utilization_ratio", dev("0", "core", "0"), 0.25)
	expect(t, reg, "orb8_accelerator_core_utilization_ratio", dev("0", "core", "1"), 0.5)
	expect(t, reg, "orb8_accelerator_core_utilization_ratio", dev("1", "core", "0"), 1)
	expect(t, reg, "orb8_accelerator_core_utilization_ratio", dev("1", "core", "1"), 0)
	expect(t, reg, "orb8_accelerator_utilization_ratio", dev("0"), 0.375)
	expect(t, reg, "orb8_accelerator_utilization_ratio", dev("1"), 0.5)
	expect(t, reg, "orb8_accelerator_imbalance_ratio", map[string]string{"vendor": "aws"}, 0.25)
}

// Before driver 2.31: the documented paths.
func TestDriver226Layout(t *testing.T) { checkFixture(t, "driver-2.26", "documented") }

// From driver 2.31: the counters found by name wherever they sit.
func TestRelocatedTreeFoundByName(t *testing.T) { checkFixture(t, "relocated", "by_name") }

func TestDriverVersionGate(t *testing.T) {
	// A 2.31 driver's tree is searched by name: the documented paths are
	// found that way too.
	sys := copyTree(t, "driver-2.26")
	if err := os.WriteFile(filepath.Join(sys, versionFile), []byte("2.31.4.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	devices, err := discover(sys, driverVersion{2, 31}, true)
	if err != nil || len(devices) != 2 || len(devices[1].cores) != 2 || len(devices[1].cores[1].memFiles) != 11 {
		t.Fatalf("2.31 search of the documented tree: %+v, %v", devices, err)
	}
	// A tree that is not the documented one, from a driver that says it
	// is older: nothing found, and a clear error.
	_, err = discover(copyTree(t, "relocated"), driverVersion{2, 26}, true)
	if err == nil || !strings.Contains(err.Error(), "a sysfs layout orb8 does not know") {
		t.Fatalf("relocated tree read as 2.26: %v, want the unknown layout error", err)
	}
	// No version file: searched by name.
	sys = copyTree(t, "relocated")
	os.Remove(filepath.Join(sys, versionFile))
	_, reg := start(t, sys, filepath.Join(t.TempDir(), "no-kubelet.sock"))
	expect(t, reg, "orb8_neuron_driver_info", map[string]string{"version": "", "layout": "by_name"}, 1)
}

func TestNoDeviceIsAnError(t *testing.T) {
	err := newProbe(DefaultOptions(), "", t.TempDir()).Start(context.Background(), probe.Env{Log: slog.Default()})
	if err == nil || !strings.Contains(err.Error(), "no Neuron device") {
		t.Fatalf("Start without a device: %v", err)
	}
}

func TestPodNeuronFromKubelet(t *testing.T) {
	socket := testutil.ServePodResources(t,
		testutil.PodDevices("ml", "train", "main", gpu.NeuronDeviceResource, "1"),
		testutil.PodDevices("ml", "infer", "main", gpu.NeuronCoreResource, "2", "3"), // both on device 1
		testutil.PodDevices("ml", "small", "main", gpu.NeuronCoreResource, "0"),
		testutil.PodDevices("ml", "elsewhere", "main", gpu.NeuronCoreResource, "9"),
		testutil.PodDevices("ml", "named", "main", gpu.NeuronDeviceResource, "neuron_device_0"),
	)
	_, reg := start(t, copyTree(t, "driver-2.26"), socket)
	pod := func(name, device string) map[string]string {
		return map[string]string{"namespace": "ml", "pod": name, "container": "main", "vendor": "aws", "device": device}
	}
	expect(t, reg, "orb8_pod_accelerator_allocated", pod("train", "1"), 1)
	expect(t, reg, "orb8_pod_accelerator_allocated", pod("infer", "1"), 1)
	expect(t, reg, "orb8_pod_accelerator_allocated", pod("small", "0"), 1)
	expect(t, reg, "orb8_pod_accelerator_allocated", pod("named", "0"), 1)
	if s := testutil.Series(t, reg, "orb8_pod_accelerator_allocated"); strings.Count(s, "{") != 4 {
		t.Errorf("allocations: %s; want 4, none for a core this node lacks", s)
	}
}
