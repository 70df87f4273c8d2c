package cpu

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/testutil"
)

// tolerance bounds |counter - truth| for CPU time. The kernel adds each
// task's runtime to its cgroups in ns; cgroup2 reports it in µs (truncated,
// < 1 µs off). The truth is the burner's rusage from wait4: its exact
// runtime split into utime and stime, each truncated to µs (< 2 µs off).
// What remains is the burner's last stretch on the CPU between
// exit_notify, which lets the parent reap it, and its final context
// switch, which the cgroup still gets: ~1 µs measured here, more only if
// the vCPU is preempted right there. 100 µs covers that, and is still 2,000
// times finer than the ~0.2 s burnt.
const tolerance = 100e-6

// burnLoops: the shell loop runs ~0.3 s of CPU here.
const burnLoops = 200000

// burner is a shell burning CPU in builtins only (no child processes),
// once it reads a line: until then it sleeps in read(0), so the test can
// move it between cgroups while its runtime stands still.
type burner struct {
	cmd   *exec.Cmd
	stdin io.WriteCloser
}

func startBurner(t *testing.T, cg *testutil.Cgroup, loops int) *burner {
	t.Helper()
	script := fmt.Sprintf("read go; i=0; while [ $i -lt %d ]; do i=$((i+1)); done", loops)
	cmd := cg.Command(t, "/bin/sh", "-c", script)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	b := &burner{cmd: cmd, stdin: stdin}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	// Sleeping in read(2) on fd 0: /proc/<pid>/syscall is "0 0x0 ...".
	testutil.Eventually(t, 5*time.Second, func() bool {
		s, err := os.ReadFile(fmt.Sprintf("/proc/%d/syscall", cmd.Process.Pid))
		return err == nil && strings.HasPrefix(string(s), "0 0x0 ")
	}, "burner %d never waited on stdin", cmd.Process.Pid)
	return b
}

// ranSoFar is the runtime of the (sleeping) burner so far, in seconds:
// schedstat's first field, ns.
func (b *burner) ranSoFar(t *testing.T) float64 {
	t.Helper()
	s, err := os.ReadFile(fmt.Sprintf("/proc/%d/schedstat", b.cmd.Process.Pid))
	if err != nil {
		t.Fatal(err)
	}
	ns, err := strconv.ParseUint(strings.Fields(string(s))[0], 10, 64)
	if err != nil {
		t.Fatal(err)
	}
	return float64(ns) / 1e9
}

// run lets the burner go and returns its whole CPU time from wait4 (s).
func (b *burner) run(t *testing.T) float64 {
	t.Helper()
	if _, err := io.WriteString(b.stdin, "go\n"); err != nil {
		t.Fatal(err)
	}
	if err := b.cmd.Wait(); err != nil {
		t.Fatalf("burner: %v", err)
	}
	st := b.cmd.ProcessState
	return (st.UserTime() + st.SystemTime()).Seconds()
}

// v1Twin makes the cgroup of cg's path in a v1 hierarchy and moves the
// burner there; it returns the twin's directory.
func v1Twin(t *testing.T, root string, cg *testutil.Cgroup, b *burner) string {
	t.Helper()
	dir := filepath.Join(root, cg.Path)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("make v1 cgroup: %v", err)
	}
	t.Cleanup(func() {
		testutil.Eventually(t, 5*time.Second, func() bool {
			err := os.Remove(dir)
			return err == nil || os.IsNotExist(err)
		}, "remove %s: still busy", dir)
	})
	if b != nil {
		if err := os.WriteFile(filepath.Join(dir, "cgroup.procs"), []byte(strconv.Itoa(b.cmd.Process.Pid)), 0); err != nil {
			t.Fatalf("join %s: %v", dir, err)
		}
	}
	return dir
}

func find(r *refresher, path string) (figures, bool) {
	for _, f := range r.snapshot() {
		if f.w.Path == path {
			return f, true
		}
	}
	return figures{}, false
}

func newTestRefresher(t *testing.T, src sources) *refresher {
	t.Helper()
	res := testutil.Resolver(t)
	r := newRefresher(src, res.Root(), res)
	t.Cleanup(r.close)
	return r
}

func checkNear(t *testing.T, what string, got, want float64) {
	t.Helper()
	if math.Abs(got-want) > tolerance {
		t.Errorf("%s = %.6f s, want %.6f s ± %.0f µs (off by %.3f ms)", what, got, want, tolerance*1e6, (got-want)*1e3)
	} else {
		t.Logf("%s = %.6f s, truth %.6f s (off by %+.3f ms)", what, got, want, (got-want)*1e3)
	}
}

// TestCPUTimeIsTheProcessesOwn burns CPU in a fresh cgroup and compares the
// counters with the burner's own CPU time, through both sources the probe
// knows: cgroup2 cpu.stat (the burner is born in the cgroup) and the v1
// cpuacct cgroup of the same path (joined once the burner sleeps, so the
// truth there is its runtime after the move).
func TestCPUTimeIsTheProcessesOwn(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	v2, err := findSources(filepath.Dir(cg.Dir))
	if err != nil {
		t.Fatal(err)
	}
	if v2.usage.file != "cpu.stat" {
		t.Fatalf("cgroup2 at %s keeps no usage_usec: usage from %+v", filepath.Dir(cg.Dir), v2.usage)
	}
	acct, err := cgroup.FindV1Mount("cpuacct")
	if err != nil {
		t.Skipf("no v1 cpuacct hierarchy on this host: %v", err)
	}
	v1 := sources{usage: counter{root: acct, file: "cpuacct.usage", unit: 1e-9}}

	b := startBurner(t, cg, burnLoops)
	v1Twin(t, acct, cg, b)
	beforeMove := b.ranSoFar(t)
	total := b.run(t)
	if total < 0.05 {
		t.Fatalf("the burner ran only %.3f s", total)
	}
	for _, c := range []struct {
		name  string
		src   sources
		truth float64
	}{{"cgroup2 cpu.stat usage_usec", v2, total}, {"v1 cpuacct.usage", v1, total - beforeMove}} {
		r := newTestRefresher(t, c.src)
		r.refresh(time.Now())
		f, ok := find(r, cg.Path)
		if !ok {
			t.Fatalf("%s: cgroup %s not in the table", c.name, cg.Path)
		}
		checkNear(t, c.name, f.usage, c.truth)
	}
}

// TestThrottledTimeUnderAQuota: a burner held to 10% of a CPU by the v1 cpu
// controller's quota is throttled; the counter is what the kernel's
// cpu.stat says, and what it says is plausible: more than zero, less than
// the wall time the run took.
func TestThrottledTimeUnderAQuota(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	src, err := findSources(filepath.Dir(cg.Dir))
	if err != nil {
		t.Fatal(err)
	}
	if !src.hasThrottle {
		t.Skip("no cpu controller for throttling on this host")
	}
	b := startBurner(t, cg, burnLoops/6) // ~50 ms of CPU
	dir := cg.Dir
	if src.throttle.root != filepath.Dir(cg.Dir) {
		dir = v1Twin(t, src.throttle.root, cg, b)
	}
	quota, period := "10000", "100000" // 10 ms per 100 ms
	if src.throttle.root == filepath.Dir(cg.Dir) {
		if err := os.WriteFile(filepath.Join(dir, "cpu.max"), []byte(quota+" "+period), 0); err != nil {
			t.Fatal(err)
		}
	} else {
		for f, v := range map[string]string{"cpu.cfs_period_us": period, "cpu.cfs_quota_us": quota} {
			if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
		}
	}
	start := time.Now()
	cpuTime := b.run(t)
	wall := time.Since(start).Seconds()

	r := newTestRefresher(t, src)
	r.refresh(time.Now())
	f, ok := find(r, cg.Path)
	if !ok || !f.hasThrottle {
		t.Fatalf("cgroup %s: %+v, %v; want a throttling figure", cg.Path, f, ok)
	}
	raw, err := os.ReadFile(src.throttle.path(cg.Path))
	if err != nil {
		t.Fatal(err)
	}
	kernel, _ := src.throttle.value(raw)
	t.Logf("burner: %.3f s of CPU in %.3f s; throttled %.3f s (kernel: %.3f s)", cpuTime, wall, f.throttled, kernel)
	if f.throttled != kernel {
		t.Errorf("throttled = %v s, kernel's cpu.stat says %v s", f.throttled, kernel)
	}
	if src.walkable(filepath.Dir(cg.Dir)) { // the walk reads usage; throttling as the files do
		w := newTestRefresher(t, src)
		w.walker = newTestWalker(t)
		w.refresh(time.Now())
		if fw, ok := find(w, cg.Path); !ok || fw.hasThrottle != f.hasThrottle || fw.throttled != f.throttled {
			t.Errorf("with the walk: %+v, %v; without: throttled %v s", fw, ok, f.throttled)
		}
		checkWalked(t, w)
	}
	// At 10% of a CPU, a run of c seconds of CPU takes ~10c wall seconds,
	// throttled for much of the rest; how much depends on what else wants
	// the CPUs (waiting for one is not throttled time), so the bounds are
	// those load cannot move: some, and less than the run took.
	if f.throttled <= 0 || f.throttled > wall {
		t.Errorf("throttled %.3f s over a %.3f s run with %.3f s of CPU: want more than 0 and less than the wall time",
			f.throttled, wall, cpuTime)
	}
}

// TestProbeExportsPerWorkloadAndHidesFiltered runs the probe as the agent
// does: the counter reaches the burner's CPU time, and a workload the
// agent's filters hide has no series.
// startProbe starts the probe, refreshing every 50 ms, and a registry of its series.
func startProbe(t *testing.T, res *cgroup.Resolver) (*Probe, *prometheus.Registry) {
	t.Helper()
	p := New()
	p.interval = 50 * time.Millisecond
	env := probe.Env{Resolver: res, Events: events.NewBus(), Log: slog.Default(), CgroupRoot: res.Root()}
	if err := p.Start(context.Background(), env); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(testutil.Collector(t, p))
	return p, reg
}

func TestProbeExportsPerWorkloadAndHidesFiltered(t *testing.T) {
	testutil.RequireRoot(t)
	cg, hidden := testutil.NewCgroup(t), testutil.NewCgroup(t)
	res := testutil.Resolver(t)
	res.SetEnricher(testutil.Hide{hidden.Path})
	p, reg := startProbe(t, res)
	if p.figures.walker == nil && p.Degraded()[cpuProgCgroupCpu] == nil && (p.objs == nil || p.objs.Failed[cpuProgCgroupCpu] == nil) {
		t.Fatal("no walk, and nothing says why")
	}

	truth := startBurner(t, cg, burnLoops/4).run(t)
	startBurner(t, hidden, 1000).run(t)
	var got float64
	testutil.Eventually(t, 5*time.Second, func() bool {
		v, ok := testutil.Sample(t, reg, "orb8_cpu_usage_seconds_total", map[string]string{"cgroup": cg.Path})
		got = v
		return ok && v >= truth-tolerance
	}, "orb8_cpu_usage_seconds_total{cgroup=%q} never reached %.6f s: %s", cg.Path, truth,
		testutil.Series(t, reg, "orb8_cpu_usage_seconds_total"))
	checkNear(t, "orb8_cpu_usage_seconds_total", got, truth)
	if v, ok := testutil.Sample(t, reg, "orb8_cpu_usage_seconds_total", map[string]string{"cgroup": hidden.Path}); ok {
		t.Errorf("hidden workload has a series: %v", v)
	}
}

// contending starts two burners in cg pinned to one CPU: while they run,
// one waits for the other, which PSI counts as the cgroup's CPU pressure.
func contending(t *testing.T, cg *testutil.Cgroup, loops int) []*burner {
	t.Helper()
	bs := []*burner{startBurner(t, cg, loops), startBurner(t, cg, loops)}
	var cpu1 unix.CPUSet
	cpu1.Set(1)
	for _, b := range bs {
		if err := unix.SchedSetaffinity(b.cmd.Process.Pid, &cpu1); err != nil {
			t.Fatal(err)
		}
	}
	return bs
}

// runAll lets the burners go together and returns their CPU time (s).
func runAll(t *testing.T, bs []*burner) float64 {
	t.Helper()
	for _, b := range bs {
		if _, err := io.WriteString(b.stdin, "go\n"); err != nil {
			t.Fatal(err)
		}
	}
	var total float64
	for _, b := range bs {
		if err := b.cmd.Wait(); err != nil {
			t.Fatal(err)
		}
		total += (b.cmd.ProcessState.UserTime() + b.cmd.ProcessState.SystemTime()).Seconds()
	}
	return total
}

// cpuPressure is cg's cpu.pressure.
func cpuPressure(t *testing.T, cg *testutil.Cgroup) cgroup.Pressure {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(cg.Dir, "cpu.pressure"))
	if err != nil {
		t.Fatal(err)
	}
	p, ok := cgroup.ParsePressure(b)
	if !ok || !p.HasFull {
		t.Fatalf("cpu.pressure of %s: %q", cg.Path, b)
	}
	return p
}

// TestCPUPressureOfContendingBurners: two burners pinned to one CPU in one
// cgroup, so one of them waits nearly all the while they run: PSI counts
// that as the cgroup's "some" CPU pressure. The probe exports what the
// kernel's cpu.pressure says (read again once the cgroup is empty and its
// totals stand still), and what it says is plausible: most of the wall time
// the burners ran, never more.
func TestCPUPressureOfContendingBurners(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := os.ReadFile("/proc/pressure/cpu"); err != nil {
		t.Skipf("PSI off on this kernel: %v", err)
	}
	cg := testutil.NewCgroup(t)
	p, reg := startProbe(t, testutil.Resolver(t))
	if d := p.Degraded(); d != nil {
		t.Fatalf("PSI is on, yet the probe is degraded: %v", d)
	}

	bs := contending(t, cg, burnLoops)
	// Starting the burners may have waited for a CPU already (a loaded
	// machine): the bounds below are on what the run itself added.
	start := cpuPressure(t, cg)
	t0 := time.Now()
	runAll(t, bs)
	wall := time.Since(t0).Seconds()

	truth := cpuPressure(t, cg)
	some, full := float64(truth.Some)*1e-6, float64(truth.Full)*1e-6
	var got float64
	testutil.Eventually(t, 5*time.Second, func() bool {
		got, _ = testutil.Sample(t, reg, "orb8_cpu_pressure_waiting_seconds_total", map[string]string{"cgroup": cg.Path})
		return got == some
	}, "orb8_cpu_pressure_waiting_seconds_total{cgroup=%q} never reached cpu.pressure's %.6f s: %s", cg.Path, some,
		testutil.Series(t, reg, "orb8_cpu_pressure_waiting_seconds_total"))
	if v, _ := testutil.Sample(t, reg, "orb8_cpu_pressure_stalled_seconds_total", map[string]string{"cgroup": cg.Path}); v != full {
		t.Errorf("orb8_cpu_pressure_stalled_seconds_total = %.6f s, cpu.pressure full %.6f s", v, full)
	}
	runSome, runFull := float64(truth.Some-start.Some)*1e-6, float64(truth.Full-start.Full)*1e-6
	t.Logf("burners ran %.3f s of wall time; some %.6f s, full %.6f s (%.6f s, %.6f s before)", wall, runSome, runFull, float64(start.Some)*1e-6, float64(start.Full)*1e-6)
	if runSome < wall/4 || runSome > wall || runFull > runSome {
		t.Fatalf("some %.6f s, full %.6f s for two burners sharing a CPU for %.3f s: want wall/4 <= some <= wall, full <= some", runSome, runFull, wall)
	}
}

func TestDegradedWithoutPressure(t *testing.T) {
	p := &Probe{figures: &refresher{src: sources{}}}
	if d := p.Degraded(); d[pressureFile] == nil {
		t.Fatalf("no PSI, yet not degraded: %v", d)
	}
}

// newTestWalker loads the walk's program, which this kernel must take, to
// walk the host's cgroup2 tree.
func newTestWalker(t testing.TB) *probe.CgroupWalk[cpuCgroupFigures] {
	_, w := loadTestWalk(t)
	return w
}

// loadTestWalk is newTestWalker with the probe whose objects it uses.
func loadTestWalk(t testing.TB) (*Probe, *probe.CgroupWalk[cpuCgroupFigures]) {
	t.Helper()
	root, err := cgroup.FindMount()
	if err != nil {
		t.Fatal(err)
	}
	p := New()
	w, err := p.load(root)
	t.Cleanup(func() {
		w.Close()
		p.Close()
	})
	if err != nil || w == nil {
		t.Fatalf("the walk did not load: %v (refused: %v)", err, p.objs.Failed)
	}
	return p, w
}

// TestWalkReadsWhatTheFilesSay: after a burner's run in a fresh cgroup, the
// walk's CPU time and CPU pressure of it are its files', to the
// microsecond they print, and the walk opened none of its files; every
// cgroup the files have, the walk has.
func TestWalkReadsWhatTheFilesSay(t *testing.T) {
	testutil.RequireRoot(t)
	if _, err := os.ReadFile("/proc/pressure/cpu"); err != nil {
		t.Skipf("PSI off on this kernel: %v", err)
	}
	cg := testutil.NewCgroup(t)
	root := filepath.Dir(cg.Dir)
	src, err := findSources(root)
	if err != nil {
		t.Fatal(err)
	}
	if !src.walkable(root) {
		t.Fatalf("cgroup2 at %s: usage from %+v, not walkable", root, src.usage)
	}
	truth := runAll(t, contending(t, cg, burnLoops/4))
	// Reading cpu.pressure folds PSI's per-CPU times into the totals the
	// walk reads (the kernel also does every 2 s while the group is busy).
	pressure := cpuPressure(t, cg)
	if pressure.Some == 0 || pressure.Full == 0 {
		t.Fatalf("two burners on one CPU, yet no CPU pressure: %+v", pressure)
	}

	files, walked := newTestRefresher(t, src), newTestRefresher(t, src)
	walked.walker = newTestWalker(t)
	files.refresh(time.Now())
	walked.refresh(time.Now())
	if err := walked.walker.Err(); err != nil {
		t.Fatal(err)
	}
	ff, ok := find(files, cg.Path)
	fw, ok2 := find(walked, cg.Path)
	if !ok || !ok2 {
		t.Fatalf("cgroup %s in the files' table %v, the walk's %v", cg.Path, ok, ok2)
	}
	checkNear(t, "walked usage", fw.usage, truth)
	t.Logf("pressure %+v", fw.pressure)
	if fw.usage != ff.usage {
		t.Errorf("walked usage %.6f s, cpu.stat %.6f s", fw.usage, ff.usage)
	}
	if !fw.hasPressure || fw.pressure != pressure || ff.pressure != pressure {
		t.Errorf("walked pressure %+v (%v), files %+v, cpu.pressure %+v", fw.pressure, fw.hasPressure, ff.pressure, pressure)
	}
	if fw.hasThrottle != ff.hasThrottle || fw.throttled != ff.throttled {
		t.Errorf("walked throttling %v %v, files %v %v", fw.hasThrottle, fw.throttled, ff.hasThrottle, ff.throttled)
	}
	checkWalked(t, walked)
}

// checkWalked fails unless the walk had every cgroup r tracks but the
// host's root: none has its files open.
func checkWalked(t *testing.T, r *refresher) {
	t.Helper()
	if err := r.walker.Err(); err != nil {
		t.Fatalf("the walk failed: %v", err)
	}
	for _, c := range r.cgroups {
		if c.path != "/" && (c.usage != nil || c.pressure != nil) {
			t.Errorf("cgroup %s was read from its files, not the walk", c.path)
		}
	}
}

// TestWalkReadsCFSThrottling runs the walk's program on a v1 cpu cgroup
// whose quota throttled a burner (the v1 cpu controller has the same
// task_group as cgroup2's): the throttled time it reads is the cgroup's
// cpu.stat throttled_time, in ns. Hosts whose cgroup2 has the cpu
// controller take throttling from the walk this way.
func TestWalkReadsCFSThrottling(t *testing.T) {
	testutil.RequireRoot(t)
	cpuRoot, err := cgroup.FindV1Mount("cpu")
	if err != nil {
		t.Skipf("no v1 cpu hierarchy on this host: %v", err)
	}
	cg := testutil.NewCgroup(t)
	b := startBurner(t, cg, burnLoops/6)
	dir := v1Twin(t, cpuRoot, cg, b)
	for f, v := range map[string]string{"cpu.cfs_period_us": "100000", "cpu.cfs_quota_us": "10000"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(v), 0); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
	}
	b.run(t)
	raw, err := os.ReadFile(filepath.Join(dir, "cpu.stat"))
	if err != nil {
		t.Fatal(err)
	}
	kernel, ok := cgroup.StatValue(raw, "throttled_time")
	if !ok || kernel == 0 {
		t.Fatalf("cpu.stat of %s: %q, want throttled_time > 0", dir, raw)
	}

	loaded, _ := loadTestWalk(t)
	w, err := probe.NewCgroupWalk[cpuCgroupFigures](loaded.bpf.CgroupCpu, loaded.bpf.Figures, loaded.bpf.Walked, dir)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(w.Close)
	if err := w.Walk(); err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	if err := unix.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	got, ok := w.Figures(st.Ino)
	if !ok {
		t.Fatalf("walk of %s (id %d): no figures", dir, st.Ino)
	}
	if got.Id != st.Ino || got.Flags&uint32(cpuFigureFlagHAS_THROTTLE) == 0 || got.ThrottledNs != kernel {
		t.Fatalf("walk of %s (id %d): %+v; want its throttled_time %d ns", dir, st.Ino, got, kernel)
	}
	t.Logf("throttled %d ns", got.ThrottledNs)
}

// TestWalkSkipsDyingCgroups: a removed cgroup whose zombie process keeps it
// listed (the kernel skips it in walks) is not in the walk, and the
// cgroups after it keep their own figures: slots are the walk's own count,
// not its position in the tree, so no slot keeps a walk before's figures.
func TestWalkSkipsDyingCgroups(t *testing.T) {
	testutil.RequireRoot(t)
	dying, after := testutil.NewCgroup(t), testutil.NewCgroup(t)
	zombie := dying.Command(t, "/bin/true")
	if err := zombie.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zombie.Wait() })
	// Not reaped until the test ends: its exit leaves the cgroup empty but listed.
	testutil.Eventually(t, 5*time.Second, func() bool {
		s, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", zombie.Process.Pid))
		return err == nil && strings.Contains(string(s), ") Z ")
	}, "process %d never became a zombie", zombie.Process.Pid)
	truth := startBurner(t, after, burnLoops/8).run(t)

	w := newTestWalker(t)
	if err := w.Walk(); err != nil {
		t.Fatal(err)
	}
	if _, ok := w.Figures(dying.ID); !ok {
		t.Fatalf("cgroup %s not in the walk while live", dying.Path)
	}
	if err := os.Remove(dying.Dir); err != nil {
		t.Fatalf("remove %s with only a zombie in it: %v", dying.Dir, err)
	}
	if err := w.Walk(); err != nil {
		t.Fatal(err)
	}
	if g, ok := w.Figures(dying.ID); ok {
		t.Errorf("removed cgroup %s in the walk: %+v", dying.Path, g)
	}
	g, ok := w.Figures(after.ID)
	if !ok {
		t.Fatalf("cgroup %s not in the walk", after.Path)
	}
	checkNear(t, "walked usage after a dying cgroup", microseconds(g.UsageNs), truth)
}

// TestWalkedFiguresAreTheFiles: the walk's nanoseconds become what the
// files print, whole microseconds, and throttling comes from the walk
// where cpu.stat has it (cgroup2 with the cpu controller).
func TestWalkedFiguresAreTheFiles(t *testing.T) {
	v2 := counter{root: "/r", file: "cpu.stat", key: "usage_usec", unit: 1e-6}
	r := &refresher{src: sources{usage: v2, throttle: counter{root: "/r", file: "cpu.stat", key: "throttled_usec", unit: 1e-6}, hasThrottle: true, pressure: true}}
	g := &cpuCgroupFigures{UsageNs: 1_234_567_890, SomeNs: 5_919_185, FullNs: 5_164_362, ThrottledNs: 92_951_614,
		Flags: uint32(cpuFigureFlagHAS_PRESSURE | cpuFigureFlagHAS_THROTTLE)}
	f := r.walked(&tracked{}, g)
	usec := func(n uint64) float64 { return float64(n) * v2.unit } // as counter.value computes the files'
	want := figures{usage: usec(1234567), throttled: usec(92951), hasThrottle: true,
		pressure: cgroup.Pressure{Some: 5919, Full: 5164, HasFull: true}, hasPressure: true}
	if f.usage != want.usage || f.throttled != want.throttled || !f.hasThrottle || f.pressure != want.pressure || !f.hasPressure {
		t.Errorf("walked %+v, want %+v", f, want)
	}
	g.Flags = 0 // no cpu controller there, PSI off for it
	if f := r.walked(&tracked{}, g); f.hasThrottle || f.hasPressure {
		t.Errorf("walked without flags: %+v", f)
	}
}

// TestWalkFailureFallsBackToFiles: a round whose walk fails reads each
// cgroup's files and says why in Degraded; the next walk that works closes
// them again.
func TestWalkFailureFallsBackToFiles(t *testing.T) {
	testutil.RequireRoot(t)
	cg := testutil.NewCgroup(t)
	truth := startBurner(t, cg, burnLoops/8).run(t)
	res := testutil.Resolver(t)
	src, err := findSources(res.Root())
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRefresher(t, src)
	loaded, good := loadTestWalk(t)
	closed, err := loaded.bpf.CgroupCpu.Clone()
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	bad, err := probe.NewCgroupWalk[cpuCgroupFigures](closed, loaded.bpf.Figures, loaded.bpf.Walked, res.Root())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bad.Close)
	p := &Probe{figures: r}
	for round, walk := range []*probe.CgroupWalk[cpuCgroupFigures]{bad, good} {
		r.walker = walk
		r.refresh(time.Now())
		f, ok := find(r, cg.Path)
		if !ok {
			t.Fatalf("round %d: cgroup %s not in the table", round, cg.Path)
		}
		checkNear(t, fmt.Sprintf("round %d usage", round), f.usage, truth)
		opened := false
		for _, c := range r.cgroups {
			opened = opened || c.path == cg.Path && c.usage != nil
		}
		failed := p.Degraded()[cpuProgCgroupCpu] != nil
		if want := walk == bad; failed != want || opened != want {
			t.Errorf("round %d (walk fails: %v): degraded %v, %s's files open %v", round, want, failed, cg.Path, opened)
		}
	}
}

// TestTableInWorkloadOrder: the table comes out in the order scrapes
// want, as cgroups come and go, without a sort of its own.
func TestTableInWorkloadOrder(t *testing.T) {
	testutil.RequireRoot(t)
	first := testutil.NewCgroup(t)
	src, err := findSources(filepath.Dir(first.Dir))
	if err != nil {
		t.Fatal(err)
	}
	r := newTestRefresher(t, src)
	for range 7 { // with the host's, enough that map order is never sorted by chance
		testutil.NewCgroup(t)
	}
	check := func(when string, in, out *testutil.Cgroup) {
		t.Helper()
		r.rounds = 0 // a rescan
		r.refresh(time.Now())
		rows := r.snapshot()
		if !slices.IsSortedFunc(rows, func(a, b figures) int { return series.CompareWorkloads(&a.w, &b.w) }) {
			t.Fatalf("%s: table of %d rows not in workload order", when, len(rows))
		}
		if _, ok := find(r, in.Path); !ok {
			t.Fatalf("%s: %s not in the table", when, in.Path)
		}
		if out == nil {
			return
		}
		if _, ok := find(r, out.Path); ok {
			t.Fatalf("%s: removed %s still in the table", when, out.Path)
		}
	}
	check("first refresh", first, nil)
	second := testutil.NewCgroup(t)
	check("a cgroup added", second, nil)
	if err := os.Remove(first.Dir); err != nil {
		t.Fatal(err)
	}
	check("a cgroup removed", second, first)
}
