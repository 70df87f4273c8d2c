package drm

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/testutil"
)

// fakeProc is a procfs tree of processes holding DRM fds, whose fdinfo
// says what a test wants; their cgroups are real test cgroups.
type fakeProc struct {
	t              *testing.T
	proc, sysClass string
	scanner        *scanner
	reg            *prometheus.Registry
	now            time.Time
}

// newFakeProc starts a scanner over an empty tree; the workloads of the
// hide cgroup paths are hidden as the agent's filters hide excluded pods.
func newFakeProc(t *testing.T, hide ...string) *fakeProc {
	t.Helper()
	testutil.RequireRoot(t)
	res := testutil.Resolver(t)
	res.SetEnricher(testutil.Hide(hide))
	f := &fakeProc{t: t, proc: t.TempDir(), sysClass: t.TempDir(), now: time.Unix(1e9, 0)}
	f.scanner = newScanner(f.proc, res.Root(), f.sysClass, res)
	f.reg = prometheus.NewPedanticRegistry()
	f.reg.MustRegister(testutil.Collector(t, &Probe{scan: f.scanner}))
	return f
}

// process puts pid in the cgroup (moving it there if it exists).
func (f *fakeProc) process(pid int, cg *testutil.Cgroup) {
	f.t.Helper()
	dir := filepath.Join(f.proc, strconv.Itoa(pid))
	for _, d := range []string{"fd", "fdinfo"} {
		if err := os.MkdirAll(filepath.Join(dir, d), 0o755); err != nil {
			f.t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "cgroup"), []byte("0::"+cg.Path+"\n"), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

// open gives pid an fd on node whose fdinfo is the text, replacing one there.
func (f *fakeProc) open(pid, fd int, node, fdinfo string) {
	f.t.Helper()
	dir := filepath.Join(f.proc, strconv.Itoa(pid))
	link := filepath.Join(dir, "fd", strconv.Itoa(fd))
	os.Remove(link)
	if err := os.Symlink(node, link); err != nil {
		f.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "fdinfo", strconv.Itoa(fd)), []byte(fdinfo), 0o644); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeProc) exit(pid int) {
	if err := os.RemoveAll(filepath.Join(f.proc, strconv.Itoa(pid))); err != nil {
		f.t.Fatal(err)
	}
}

// scan runs a scan one second after the last.
func (f *fakeProc) scan() {
	f.now = f.now.Add(time.Second)
	f.scanner.scan(f.now)
}

// expect checks one series' exact value; labels name it with the cgroup.
func (f *fakeProc) expect(name string, labels map[string]string, want float64) {
	f.t.Helper()
	got, ok := testutil.Sample(f.t, f.reg, name, labels)
	if !ok || got != want {
		f.t.Errorf("%s%v = %v (present %v), want %v; series:\n%s", name, labels, got, ok, want, testutil.Series(f.t, f.reg, name))
	}
}

func (f *fakeProc) absent(name string, labels map[string]string) {
	f.t.Helper()
	if got, ok := testutil.Sample(f.t, f.reg, name, labels); ok {
		f.t.Errorf("%s%v = %v, want no series", name, labels, got)
	}
}

func labels(cg *testutil.Cgroup, kv ...string) map[string]string {
	m := map[string]string{}
	if cg != nil {
		m["cgroup"] = cg.Path
	}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

func TestScanAttributesEachDriversClientsToWorkloads(t *testing.T) {
	f := newFakeProc(t)
	a, b := testutil.NewCgroup(t), testutil.NewCgroup(t)
	amd, xe, panfrost := string(readFixture(t, "amdgpu.txt")), string(readFixture(t, "xe.txt")), string(readFixture(t, "panfrost.txt"))
	// Workload a: one amdgpu client on two fds of a process and on one of
	// its forked child: counted once.
	f.process(100, a)
	f.open(100, 3, "/dev/dri/renderD128", amd)
	f.open(100, 4, "/dev/dri/renderD128", amd)
	f.open(100, 5, "/dev/null", amd) // not a DRM node, whatever its fdinfo
	f.process(101, a)
	f.open(101, 3, "/dev/dri/renderD128", amd)
	// Workload b: an xe client, a panfrost client (a platform device: no
	// drm-pdev), and a node of a driver without usage stats.
	f.process(200, b)
	f.open(200, 3, "/dev/dri/renderD129", xe)
	f.open(200, 4, "/dev/dri/renderD130", panfrost)
	f.open(200, 5, "/dev/dri/card1", string(readFixture(t, "plain.txt")))
	f.open(200, 6, "/dev/accel/accel0", string(readFixture(t, "amdxdna.txt"))) // an NPU
	if err := os.MkdirAll(filepath.Join(f.sysClass, "drm", "renderD130"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("../../../devices/platform/fde60000.gpu", filepath.Join(f.sysClass, "drm", "renderD130", "device")); err != nil {
		t.Fatal(err)
	}
	f.scan()

	amdEngine := func(engine string) map[string]string {
		return labels(a, "vendor", "amd", "driver", "amdgpu", "device", "0000:c1:00.0", "engine", engine)
	}
	f.expect("orb8_workload_accelerator_engine_busy_seconds_total", amdEngine("compute"), 81.237650114)
	f.expect("orb8_workload_accelerator_engine_busy_seconds_total", amdEngine("dma"), 1.204005921)
	f.absent("orb8_workload_accelerator_engine_busy_cycles_total", amdEngine("compute"))
	amdMemory := func(region, kind string) map[string]string {
		return labels(a, "vendor", "amd", "driver", "amdgpu", "device", "0000:c1:00.0", "region", region, "kind", kind)
	}
	f.expect("orb8_workload_accelerator_memory_region_bytes", amdMemory("vram", "resident"), 2052*mib)
	f.expect("orb8_workload_accelerator_memory_region_bytes", amdMemory("vram", "shared"), 4*mib)
	f.expect("orb8_workload_accelerator_memory_region_bytes", amdMemory("gtt", "total"), 6*mib)
	f.expect("orb8_accelerator_engine_capacity", labels(nil, "driver", "amdgpu", "engine", "compute"), 1)

	xeEngine := func(engine string) map[string]string {
		return labels(nil, "vendor", "intel", "driver", "xe", "device", "0000:03:00.0", "engine", engine)
	}
	f.expect("orb8_workload_accelerator_engine_busy_cycles_total", labels(b, "driver", "xe", "engine", "rcs"), 28257900)
	f.absent("orb8_workload_accelerator_engine_busy_seconds_total", labels(b, "driver", "xe"))
	f.expect("orb8_accelerator_engine_clock_cycles_total", xeEngine("rcs"), 7655183225)
	f.expect("orb8_accelerator_engine_capacity", xeEngine("ccs"), 4)
	f.expect("orb8_accelerator_engine_capacity", xeEngine("vcs"), 2)
	f.expect("orb8_workload_accelerator_memory_region_bytes", labels(b, "driver", "xe", "region", "vram0", "kind", "shared"), 16*mib)

	mali := labels(b, "vendor", "arm", "driver", "panfrost", "device", "fde60000.gpu", "engine", "fragment")
	f.expect("orb8_workload_accelerator_engine_busy_seconds_total", mali, 1.846584880)
	f.expect("orb8_workload_accelerator_engine_busy_cycles_total", mali, 1424359409)
	f.expect("orb8_workload_accelerator_memory_region_bytes", labels(b, "driver", "panfrost", "region", "memory", "kind", "total"), 290*mib)
	f.absent("orb8_accelerator_engine_clock_cycles_total", labels(nil, "driver", "panfrost"))

	npu := labels(b, "vendor", "amd", "driver", "amdxdna_accel_driver", "device", "0000:c5:00.1")
	f.expect("orb8_workload_accelerator_engine_busy_seconds_total", labels(b, "driver", "amdxdna_accel_driver", "engine", "npu-amdxdna"), 4.25)
	npu["region"], npu["kind"] = "memory", "total"
	f.expect("orb8_workload_accelerator_memory_region_bytes", npu, 64*mib)

	// One scan: no interval to rate over yet.
	f.absent("orb8_workload_accelerator_engine_utilization_ratio", nil)
	for _, reason := range []string{dropMalformed, dropClients, dropSeries} {
		f.expect("orb8_accelerator_drm_dropped_total", labels(nil, "reason", reason), 0)
	}
}

// render is an i915 client's fdinfo with busy render time and local memory.
func render(id int, busyNs uint64, memMiB int) string {
	return fmt.Sprintf("drm-driver:\ti915\ndrm-client-id:\t%d\ndrm-pdev:\t0000:03:00.0\ndrm-resident-local0:\t%d MiB\ndrm-engine-render:\t%d ns\n", id, memMiB, busyNs)
}

func TestCountersOutliveClientsUntilTheWorkloadGoes(t *testing.T) {
	f := newFakeProc(t)
	a, b := testutil.NewCgroup(t), testutil.NewCgroup(t)
	busyOf := func(cg *testutil.Cgroup) map[string]string {
		return labels(cg, "vendor", "intel", "driver", "i915", "device", "0000:03:00.0", "engine", "render")
	}
	memOf := labels(a, "driver", "i915", "region", "local0", "kind", "resident")
	f.process(100, a)
	f.open(100, 3, "/dev/dri/renderD128", render(1, 1e9, 100))
	f.process(101, a)
	f.open(101, 3, "/dev/dri/renderD128", render(2, 2e9, 50))
	f.scan()
	f.expect("orb8_workload_accelerator_engine_busy_seconds_total", busyOf(a), 3)
	f.expect("orb8_workload_accelerator_memory_region_bytes", memOf, 150*mib)

	// Client 2 goes with its process: its 2 s stay; its memory goes.
	// Client 1 gains 0.5 s in the 1 s between scans.
	f.exit(101)
	f.open(100, 3, "/dev/dri/renderD128", render(1, 1.5e9, 100))
	f.scan()
	f.expect("orb8_workload_accelerator_engine_busy_seconds_total", busyOf(a), 3.5)
	f.expect("orb8_workload_accelerator_engine_utilization_ratio", busyOf(a), 0.5)
	f.expect("orb8_workload_accelerator_memory_region_bytes", memOf, 100*mib)

	// A read lower than the last stays at the last until it catches up.
	f.open(100, 3, "/dev/dri/renderD128", render(1, 1.4e9, 100))
	f.scan()
	f.expect("orb8_workload_accelerator_engine_busy_seconds_total", busyOf(a), 3.5)
	f.expect("orb8_workload_accelerator_engine_utilization_ratio", busyOf(a), 0)
	f.open(100, 3, "/dev/dri/renderD128", render(1, 2e9, 100))
	f.scan()
	f.expect("orb8_workload_accelerator_engine_busy_seconds_total", busyOf(a), 4)
	f.expect("orb8_workload_accelerator_engine_utilization_ratio", busyOf(a), 0.5)

	// The process moves to b: b gets what the client gains from then on,
	// not its whole past; a keeps its count.
	f.process(100, b)
	f.open(100, 3, "/dev/dri/renderD128", render(1, 2.25e9, 100))
	f.scan()
	f.expect("orb8_workload_accelerator_engine_busy_seconds_total", busyOf(a), 4)
	f.expect("orb8_workload_accelerator_engine_busy_seconds_total", busyOf(b), 0.25)
	f.absent("orb8_workload_accelerator_memory_region_bytes", memOf)

	// a is gone: its series go.
	f.scanner.Forget([]uint64{a.ID})
	f.scan()
	f.absent("orb8_workload_accelerator_engine_busy_seconds_total", busyOf(a))
	f.expect("orb8_workload_accelerator_engine_busy_seconds_total", busyOf(b), 0.25)
}

// xeClient is an xe client's fdinfo: busy cycles of rcs and ccs (4 engines)
// and the GPU clock.
func xeClient(rcs, ccs, clock uint64) string {
	return fmt.Sprintf("drm-driver:\txe\ndrm-client-id:\t3\ndrm-pdev:\t0000:03:00.0\n"+
		"drm-cycles-rcs:\t%d\ndrm-total-cycles-rcs:\t%d\ndrm-cycles-ccs:\t%d\ndrm-total-cycles-ccs:\t%d\ndrm-engine-capacity-ccs:\t4\n", rcs, clock, ccs, clock)
}

func TestUtilizationFromCyclesOverTheGPUClock(t *testing.T) {
	f := newFakeProc(t)
	a := testutil.NewCgroup(t)
	f.process(100, a)
	f.open(100, 3, "/dev/dri/renderD128", xeClient(1000, 0, 10000))
	f.scan()
	// 500 of 1000 clock cycles on rcs; 2000 engine cycles over 4 ccs engines.
	f.open(100, 3, "/dev/dri/renderD128", xeClient(1500, 2000, 11000))
	f.scan()
	f.expect("orb8_workload_accelerator_engine_utilization_ratio", labels(a, "driver", "xe", "engine", "rcs"), 0.5)
	f.expect("orb8_workload_accelerator_engine_utilization_ratio", labels(a, "driver", "xe", "engine", "ccs"), 0.5)
	f.expect("orb8_workload_accelerator_engine_busy_cycles_total", labels(a, "driver", "xe", "engine", "ccs"), 2000)
	f.expect("orb8_accelerator_engine_clock_cycles_total", labels(nil, "driver", "xe", "engine", "rcs"), 11000)
}

func TestTablesAreBoundedAndDropsCounted(t *testing.T) {
	f := newFakeProc(t)
	f.scanner.maxClients = 2
	a := testutil.NewCgroup(t)
	f.process(100, a)
	for id := 1; id <= 3; id++ {
		f.open(100, 2+id, "/dev/dri/renderD128", render(id, 1e9, 1))
	}
	// Malformed lines cost only themselves.
	f.open(100, 9, "/dev/dri/renderD129", "drm-driver:\tamdgpu\ndrm-client-id:\t9\ndrm-pdev:\t0000:c1:00.0\ndrm-engine-gfx:\tlots\ndrm-engine-dma:\t1000000000 ns\ndrm-engine-compute:\t1000000000 ns\n")
	f.scan()
	// The walk goes fd by fd (3, 4, 5, 9): clients 1 and 2 fit, 3 and 9 do not.
	f.expect("orb8_accelerator_drm_dropped_total", labels(nil, "reason", dropClients), 2)
	f.expect("orb8_accelerator_drm_dropped_total", labels(nil, "reason", dropMalformed), 1)
	f.expect("orb8_workload_accelerator_engine_busy_seconds_total", labels(a, "driver", "i915"), 2)
	f.absent("orb8_workload_accelerator_engine_busy_seconds_total", labels(a, "driver", "amdgpu"))

	f.scanner.maxClients, f.scanner.maxSeries = 10, 2
	f.scan()
	// The i915 render series and one of amdgpu's two engines fit.
	f.expect("orb8_accelerator_drm_dropped_total", labels(nil, "reason", dropSeries), 1)
	f.expect("orb8_accelerator_drm_dropped_total", labels(nil, "reason", dropMalformed), 2)
	f.expect("orb8_workload_accelerator_engine_busy_seconds_total", labels(a, "driver", "i915"), 3)
	if n := count(t, f.reg, "orb8_workload_accelerator_engine_busy_seconds_total"); n != 2 {
		t.Errorf("%d engine series, want 2 (the bound)", n)
	}
}

// count is the number of series of a family.
func count(t *testing.T, g prometheus.Gatherer, name string) int {
	t.Helper()
	families, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range families {
		if mf.GetName() == name {
			return len(mf.GetMetric())
		}
	}
	return 0
}

func TestHiddenWorkloadHasNoSeries(t *testing.T) {
	hidden := testutil.NewCgroup(t)
	f := newFakeProc(t, hidden.Path)
	shown := testutil.NewCgroup(t)
	f.process(100, hidden)
	f.open(100, 3, "/dev/dri/renderD128", render(1, 1e9, 1))
	f.process(200, shown)
	f.open(200, 3, "/dev/dri/renderD128", render(2, 2e9, 1))
	f.scan()
	f.expect("orb8_workload_accelerator_engine_busy_seconds_total", labels(shown, "driver", "i915"), 2)
	f.absent("orb8_workload_accelerator_engine_busy_seconds_total", labels(hidden))
	f.absent("orb8_workload_accelerator_memory_region_bytes", labels(hidden))
}

func TestDeviceFoundInSysfs(t *testing.T) {
	sys := t.TempDir()
	if hasDevice(sys) || hasDevice(filepath.Join(sys, "absent")) {
		t.Fatal("a device in an empty or absent /sys/class")
	}
	for _, name := range []string{"drm/card0-HDMI-A-1", "drm/version", "drm/ttm", "accel/accel"} {
		if err := os.MkdirAll(filepath.Join(sys, name), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if hasDevice(sys) {
		t.Fatal("a connector or sysfs file taken for a device")
	}
	for _, node := range []string{"drm/renderD128", "accel/accel0"} {
		one := t.TempDir()
		if err := os.MkdirAll(filepath.Join(one, node), 0o755); err != nil {
			t.Fatal(err)
		}
		if !hasDevice(one) {
			t.Errorf("%s not taken for a device", node)
		}
	}
}
