package memory

import (
	"context"
	"fmt"
	"log/slog"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/series"
	"github.com/orb8/orb8/internal/testutil"
)

const testLimit = 64 << 20

type fixture struct {
	probe *Probe
	reg   *prometheus.Registry
	bus   *events.Bus
}

// start starts p; the workloads of the hide cgroup paths are hidden as the
// agent's filters hide excluded pods.
func start(t testing.TB, p *Probe, hide ...string) *fixture {
	t.Helper()
	testutil.RequireRoot(t)
	res := testutil.Resolver(t)
	res.SetEnricher(testutil.Hide(hide))
	p.interval = 100 * time.Millisecond
	f := &fixture{probe: p, reg: prometheus.NewPedanticRegistry(), bus: events.NewBus()}
	env := probe.Env{Resolver: res, Events: f.bus, Log: slog.Default(), CgroupRoot: res.Root()}
	if err := p.Start(context.Background(), env); err != nil {
		t.Fatalf("start memory probe: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	f.reg.MustRegister(testutil.Collector(t, p))
	return f
}

func (f *fixture) value(t *testing.T, name, cgroupPath string) (float64, bool) {
	t.Helper()
	return testutil.Sample(t, f.reg, name, map[string]string{"cgroup": cgroupPath})
}

// lazy formats as what its function returns when the message is written.
type lazy func() string

func (l lazy) String() string { return l() }

// waitFor polls until metric name of the cgroup satisfies ok.
func (f *fixture) waitFor(t *testing.T, name, cgroupPath string, timeout time.Duration, ok func(v float64) bool) float64 {
	t.Helper()
	var v float64
	testutil.Eventually(t, timeout, func() bool {
		var found bool
		v, found = f.value(t, name, cgroupPath)
		return found && ok(v)
	}, "%s{cgroup=%q} = %v; series: %s", name, cgroupPath, lazy(func() string { return fmt.Sprint(v) }),
		lazy(func() string { return testutil.Series(t, f.reg, name) }))
	return v
}

// oomEvents subscribes to the oom events of one cgroup.
func (f *fixture) oomEvents(t testing.TB, cgroupPath string) *events.Subscription {
	sub := f.bus.Subscribe(16, nil, func(e *events.Event) bool { return e.Kind == events.KindOOM && e.Workload.Path == cgroupPath })
	t.Cleanup(func() { f.bus.Unsubscribe(sub) })
	return sub
}

func TestOOMKillCountedForVictimCgroup(t *testing.T) {
	f := start(t, New(DefaultOptions()))
	mc := newMemCgroup(t, testLimit)
	oom := f.oomEvents(t, mc.Path)
	h := mc.start(t, "grow", strconv.Itoa(4<<20), "5ms")
	f.waitFor(t, "orb8_memory_limit_bytes", mc.Path, 3*time.Second, func(v float64) bool { return v == testLimit })
	h.goAhead(t)

	err := h.Cmd.Wait()
	if st, ok := h.Cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || st.Signal() != syscall.SIGKILL {
		t.Fatalf("helper ended with %v, want SIGKILL from the OOM killer", err)
	}
	select {
	case e := <-oom.C:
		if e.Process.PID != uint32(h.Cmd.Process.Pid) {
			t.Errorf("oom event pid = %d, want the helper's %d", e.Process.PID, h.Cmd.Process.Pid)
		}
		// The victim held most of the limit in anonymous memory.
		if e.OOM.AnonRSSBytes < testLimit/2 || e.OOM.AnonRSSBytes > 2*testLimit {
			t.Errorf("oom event anon RSS = %d bytes, want about %d", e.OOM.AnonRSSBytes, testLimit)
		}
		if !strings.HasPrefix("memory.test", e.Process.Comm) {
			t.Errorf("oom event comm = %q, want the test binary's", e.Process.Comm)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("no oom event for the helper")
	}
	f.waitFor(t, "orb8_oom_kills_total", mc.Path, time.Second, func(v float64) bool { return v >= 1 })
	time.Sleep(300 * time.Millisecond) // a second kill would show by now
	if v, _ := f.value(t, "orb8_oom_kills_total", mc.Path); v != 1 {
		t.Fatalf("orb8_oom_kills_total{cgroup=%q} = %v, want exactly 1", mc.Path, v)
	}
}

func TestOOMETAPredictsTheKill(t *testing.T) {
	f := start(t, New(DefaultOptions()))
	mc := newMemCgroup(t, testLimit)
	oom := f.oomEvents(t, mc.Path)
	// 8 MiB/s: the limit is reached about 8 s after the go-ahead.
	h := mc.start(t, "grow", strconv.Itoa(512<<10), "62500us")

	// Idle: the usage is flat, so there is no ETA.
	time.Sleep(time.Second)
	f.waitFor(t, "orb8_memory_usage_bytes", mc.Path, time.Second, func(float64) bool { return true })
	if eta, ok := f.value(t, "orb8_memory_oom_eta_seconds", mc.Path); ok {
		t.Fatalf("ETA %v s for a cgroup whose usage does not grow", eta)
	}

	h.goAhead(t)
	f.waitFor(t, "orb8_memory_usage_bytes", mc.Path, 10*time.Second, func(v float64) bool { return v >= 16<<20 })
	eta := f.waitFor(t, "orb8_memory_oom_eta_seconds", mc.Path, time.Second, func(float64) bool { return true })
	predictedAt := time.Now()

	select {
	case e := <-oom.C:
		actual := e.Time.Sub(predictedAt).Seconds()
		t.Logf("predicted %.2f s, killed after %.2f s", eta, actual)
		if math.Abs(eta-actual) > 0.3*actual {
			t.Fatalf("ETA %.2f s, but the kill came after %.2f s: off by more than 30%%", eta, actual)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("helper was not OOM-killed")
	}
}

func TestHiddenWorkloadHasNoSeries(t *testing.T) {
	hidden := newMemCgroup(t, testLimit)
	f := start(t, New(DefaultOptions()), hidden.Path)
	shown := newMemCgroup(t, testLimit)
	// The walk of the cgroup tree that found the shown cgroup found the
	// hidden one, made before it in the same directory.
	f.waitFor(t, "orb8_memory_limit_bytes", shown.Path, 3*time.Second, func(v float64) bool { return v == testLimit })
	for _, name := range []string{"orb8_memory_usage_bytes", "orb8_memory_limit_bytes"} {
		if v, ok := f.value(t, name, hidden.Path); ok {
			t.Errorf("%s of a hidden workload = %v, want no series", name, v)
		}
	}
}

// allocator is the helper's entry in the top allocators of its cgroup,
// which must list it alone.
func (f *fixture) allocator(t *testing.T, mc *memCgroup, h *helper) Allocator {
	t.Helper()
	top, err := f.probe.TopAllocators(3)
	if err != nil {
		t.Fatal(err)
	}
	for _, wa := range top {
		if wa.Workload.Path != mc.Path {
			continue
		}
		if len(wa.Processes) != 1 || wa.Processes[0].PID != uint32(h.Cmd.Process.Pid) {
			t.Fatalf("top allocators of the test cgroup = %+v, want the helper (pid %d) alone", wa.Processes, h.Cmd.Process.Pid)
		}
		return wa.Processes[0]
	}
	t.Fatalf("test cgroup missing from the top allocators: %+v", top)
	return Allocator{}
}

// touchPages makes the helper touch pages fresh pages (where: "thread" on a
// thread that then ends, see runHelper) and returns its allocation counts
// before and after.
func (f *fixture) touchPages(t *testing.T, mc *memCgroup, pages int, where string) (before, after Allocator, h *helper) {
	t.Helper()
	h = mc.start(t, "touch", strconv.Itoa(pages), where)
	// The helper has faulted while starting, so it is listed already.
	testutil.Eventually(t, time.Second, func() bool {
		top, _ := f.probe.TopAllocators(1)
		for _, wa := range top {
			if wa.Workload.Path == mc.Path {
				return true
			}
		}
		return false
	}, "helper missing from the top allocators")
	before = f.allocator(t, mc, h)
	h.goAhead(t)
	if line, err := h.Stdout.ReadString('\n'); err != nil || line != "done\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	return before, f.allocator(t, mc, h), h
}

func TestPageFaultsPerProcessAndWorkload(t *testing.T) {
	f := start(t, New(DefaultOptions()))
	// On a thread that ends, the faults stay the process's (the kernel
	// folds them into the thread group's) and reach the cgroup at the end.
	for name, where := range map[string]string{"main thread": "_", "ended thread": "thread"} {
		t.Run(name, func(t *testing.T) {
			mc := newMemCgroup(t, testLimit)
			const pages = 4096
			before, after, h := f.touchPages(t, mc, pages, where)
			// The helper's own faults, plus some of the Go runtime around them
			// (a new thread's stack and runtime structures: ~600).
			if d := after.PageFaults - before.PageFaults; d < pages || d > pages+1024 {
				t.Fatalf("helper's page faults grew by %d, want %d (+ at most 1024 of the Go runtime)", d, pages)
			}
			if after.PagesAllocated != 0 {
				t.Fatalf("pages allocated = %d without page allocation tracking", after.PagesAllocated)
			}
			// Once it exits, the workload has every fault of its only
			// process, including those since the last periodic flush.
			h.Stdin.Close()
			h.Cmd.Wait()
			f.waitFor(t, "orb8_memory_page_faults_total", mc.Path, time.Second, func(v float64) bool {
				return v >= float64(after.PageFaults) && v <= float64(after.PageFaults+256)
			})
			if _, ok := f.value(t, "orb8_memory_pages_allocated_total", mc.Path); ok {
				t.Fatal("pages allocated exported without page allocation tracking")
			}
		})
	}
}

func TestPageAllocationsWhenTracked(t *testing.T) {
	f := start(t, New(Options{PageAllocations: true}))
	if err := f.probe.objs.Failed[memoryProgHandlePageAlloc]; err != nil {
		t.Fatalf("page allocation hook: %v", err)
	}
	mc := newMemCgroup(t, testLimit)
	const pages = 4096
	before, after, h := f.touchPages(t, mc, pages, "_")
	// Every first touch allocates a page; the runtime allocates some more.
	if d := after.PagesAllocated - before.PagesAllocated; d < pages || d > pages+1024 {
		t.Fatalf("helper's pages allocated grew by %d, want %d (+ at most 1024 of the runtime and page tables)", d, pages)
	}
	h.Stdin.Close()
	h.Cmd.Wait()
	f.waitFor(t, "orb8_memory_pages_allocated_total", mc.Path, time.Second, func(v float64) bool {
		return v >= float64(after.PagesAllocated)
	})
}

// TestRefresherDropsRemovedCgroup: a cgroup removed between rescans leaves
// the table at the next refresh, read from its open usage file or, where
// the walk runs, missing from the walk.
func TestRefresherDropsRemovedCgroup(t *testing.T) {
	for _, walk := range []bool{false, true} {
		t.Run(fmt.Sprintf("walk=%v", walk), func(t *testing.T) { testRefresherDropsRemovedCgroup(t, walk) })
	}
}

func testRefresherDropsRemovedCgroup(t *testing.T, walk bool) {
	testutil.RequireRoot(t)
	mc := newMemCgroup(t, testLimit)
	root := filepath.Dir(mc.Dir)
	files, err := findHierarchy(root)
	if err != nil {
		t.Fatal(err)
	}
	res, err := cgroup.NewResolver(root, 1<<16)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Close()
	r := newRefresher(files, root, res, defaultWindow)
	if walk {
		r.walk = quietProbe(t).figures.walk
	}
	defer func() {
		r.walk = nil // the probe's
		r.close()
	}()
	r.refresh(time.Now()) // the first refresh walks the tree
	if f, ok := findFigures(r, mc.Path); !ok || !f.limited || f.limit != testLimit {
		t.Fatalf("test cgroup in the table: %+v, %v; want limited to %d", f, ok, testLimit)
	}
	for _, d := range []string{mc.memDir, mc.Dir} {
		if err := os.Remove(d); err != nil && !os.IsNotExist(err) {
			t.Fatal(err)
		}
	}
	r.refresh(time.Now())
	if f, ok := findFigures(r, mc.Path); ok {
		t.Fatalf("removed cgroup still in the table: %+v", f)
	}
	if _, ok := r.cgroups[mc.ID]; ok {
		t.Fatal("removed cgroup still tracked (its files open)")
	}
}

// findFigures is the row of the cgroup at path in the refresher's table.
func findFigures(r *refresher, path string) (figures, bool) {
	for _, f := range r.snapshot() {
		if f.w.Path == path {
			return f, true
		}
	}
	return figures{}, false
}

// quietProbe is a started probe whose walk loaded (this kernel must take
// it) and whose refreshes have stopped: the test refreshes.
func quietProbe(t testing.TB) *Probe {
	t.Helper()
	p := start(t, New(DefaultOptions())).probe
	p.stop()
	if p.figures == nil || p.figures.walk == nil {
		t.Fatalf("the walk did not load: %v", p.objs.Failed[memoryProgWalkMemory])
	}
	return p
}

// idleHelper starts a helper in mc that touches that many fresh pages and
// holds them, so that mc's usage holds still.
func idleHelper(t *testing.T, mc *memCgroup, pages int) {
	t.Helper()
	h := mc.start(t, "touch", strconv.Itoa(pages), "process")
	h.goAhead(t)
	if line, err := h.Stdout.ReadString('\n'); err != nil || line != "done\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
}

// refreshStill refreshes r in round (mod rescanEvery) until mc's usage
// file reads the same before and after the refresh, and returns mc's row
// and that usage.
func refreshStill(t *testing.T, r *refresher, mc *memCgroup, round int) (figures, uint64) {
	t.Helper()
	read := func() uint64 {
		b, err := os.ReadFile(filepath.Join(mc.memDir, r.files.usage))
		if err != nil {
			t.Fatal(err)
		}
		v, err := cgroup.ParseCount(b)
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	var f figures
	var before, after uint64
	testutil.Eventually(t, 5*time.Second, func() bool {
		before = read()
		r.rounds = round
		r.refresh(time.Now())
		after = read()
		var ok bool
		f, ok = findFigures(r, mc.Path)
		return ok && before == after
	}, "usage of %s did not hold still (%d, %d) or not in the table", mc.Path, before, after)
	return f, after
}

// TestWalkReadsWhatTheFilesSay: a walk's round reads a cgroup's usage and
// limit from the walk, the very figures of its files; between walks a
// limited cgroup's usage is read from its file, held open, and its limit
// waits for the next walk, and an unlimited one keeps the last walk's
// usage without a file.
func TestWalkReadsWhatTheFilesSay(t *testing.T) {
	r := quietProbe(t).figures
	mc := newMemCgroup(t, testLimit)
	const pages = 2000
	idleHelper(t, mc, pages)
	f, usage := refreshStill(t, r, mc, 0) // a rescan, which tracks the new cgroup
	if f.usage != usage || usage < pages*pageSize || !f.limited || f.limit != testLimit {
		t.Fatalf("walk: usage %d, limit %d (limited %v); files: usage %d (at least %d), limit %d",
			f.usage, f.limit, f.limited, usage, pages*pageSize, testLimit)
	}
	c := r.cgroups[mc.ID]
	if c == nil || !c.walked {
		t.Fatalf("tracked %+v: want it read from the walk", c)
	}
	setLimit(t, r, mc, 2*testLimit)
	c.lastUsage = 1 // what a limited cgroup must not report between walks
	if f, usage := refreshStill(t, r, mc, 1); f.usage != usage || f.limit != testLimit || c.usage == nil {
		t.Fatalf("between walks: usage %d (file %d), limit %d (want the walk's %d), usage file held %v",
			f.usage, usage, f.limit, testLimit, c.usage != nil)
	}
	if f, _ := refreshStill(t, r, mc, walkEvery); f.limit != 2*testLimit {
		t.Fatalf("limit at the walk after it changed: %d, want %d", f.limit, 2*testLimit)
	}

	setLimit(t, r, mc, math.MaxInt64) // no limit
	if f, _ := refreshStill(t, r, mc, walkEvery); f.limited || c.usage != nil {
		t.Fatalf("after the limit was lifted: %+v, usage file held %v; want unlimited, no file", f, c.usage != nil)
	}
	c.lastUsage = 1 // what an unlimited cgroup reports between walks
	if f, _ := refreshStill(t, r, mc, 1); f.usage != 1 || c.usage != nil {
		t.Fatalf("unlimited between walks: usage %d, usage file held %v; want the last walk's (1), no file",
			f.usage, c.usage != nil)
	}
}

// setLimit sets mc's memory limit.
func setLimit(t *testing.T, r *refresher, mc *memCgroup, limit uint64) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(mc.memDir, r.files.limit), []byte(strconv.FormatUint(limit, 10)), 0); err != nil {
		t.Fatal(err)
	}
}

// TestWalkFailureFallsBackToFiles: a round whose walk fails reads each
// cgroup's usage file and says why in Degraded; a round whose walk works
// reads the walk again. A limit changed is read at once from a walk, and
// not from the files until the next rescan.
func TestWalkFailureFallsBackToFiles(t *testing.T) {
	p := quietProbe(t)
	r := p.figures
	mc := newMemCgroup(t, testLimit)
	idleHelper(t, mc, 500)
	bad := failingWalk(t, p)
	good := r.walk
	t.Cleanup(func() { r.walk = good }) // closed with the probe
	// A rescan tracks the new cgroup from its files.
	r.walk, r.rounds = bad, 0
	if f, _ := refreshStill(t, r, mc, 0); f.limit != testLimit {
		t.Fatalf("limit %d after the first round, want %d", f.limit, testLimit)
	}
	want := uint64(testLimit)
	for round, walk := range []*probe.CgroupWalk[memoryCgroupMemory]{bad, good, bad} {
		r.walk = walk
		limit := uint64(testLimit + (round+1)<<20)
		setLimit(t, r, mc, limit)
		if walk == good {
			want = limit
		}
		f, usage := refreshStill(t, r, mc, walkEvery) // a walk's round, no rescan
		failed := p.Degraded()[memoryProgWalkMemory] != nil
		walked := r.cgroups[mc.ID].walked
		if fails := walk == bad; failed != fails || walked == fails || f.usage != usage || f.limit != want {
			t.Errorf("round %d (walk fails: %v): degraded %v, read from the walk %v, usage %d (file %d), limit %d (want %d)",
				round, fails, failed, walked, f.usage, usage, f.limit, want)
		}
	}
}

// TestTwinLookedForOnlyAfterNewCgroups: on cgroup v1, a cgroup2 cgroup
// without a memory twin is not looked up again until a whole walk finds a
// cgroup newer than the last look, then its twin is found and tracked; a
// walk that fails records nothing and skips nothing; a removed cgroup is
// forgotten.
func TestTwinLookedForOnlyAfterNewCgroups(t *testing.T) {
	p := quietProbe(t)
	r := p.figures
	if r.files.root == r.v2Root {
		t.Skip("the memory controller is on cgroup2: every cgroup has its files")
	}
	good, bad := r.walk, failingWalk(t, p)
	t.Cleanup(func() { r.walk = good }) // closed with the probe
	cg := testutil.NewCgroup(t)
	rescan := func(walk *probe.CgroupWalk[memoryCgroupMemory]) {
		r.walk, r.rounds = walk, 0
		r.refresh(time.Now())
	}
	rescan(good)
	newest, whole := good.Newest()
	if last, ok := r.noTwin[cg.ID]; !whole || !ok || last != newest {
		t.Fatalf("after a rescan without a twin: noTwin %d, %v; want the walk's newest %d (whole %v)", last, ok, newest, whole)
	}
	if _, ok := r.cgroups[cg.ID]; ok {
		t.Fatal("tracked without a twin")
	}
	rescan(bad)
	if _, ok := r.noTwin[cg.ID]; ok {
		t.Fatal("recorded without a twin after a walk that failed")
	}

	twin := filepath.Join(r.files.root, cg.Path)
	if err := os.Mkdir(twin, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { removeDir(t, twin) })
	if err := good.Walk(); err != nil {
		t.Fatal(err)
	}
	withTwin, _ := good.Newest()
	if withTwin <= newest {
		t.Fatalf("the walk's newest id %d after the twin was made, %d before", withTwin, newest)
	}
	r.noTwin[cg.ID] = withTwin // as if the last look came after the twin was made
	rescan(good)
	if _, ok := r.cgroups[cg.ID]; ok || r.noTwin[cg.ID] != withTwin {
		t.Fatalf("looked up while no newer cgroup was walked: tracked %v, noTwin %d", ok, r.noTwin[cg.ID])
	}
	rescan(bad)
	if _, ok := r.cgroups[cg.ID]; !ok {
		t.Fatal("not looked up after a walk that failed")
	}
	r.noTwin[cg.ID] = newest
	r.cgroups[cg.ID].close()
	delete(r.cgroups, cg.ID)
	rescan(good)
	c, ok := r.cgroups[cg.ID]
	if !ok {
		t.Fatal("twin made since the last look not tracked")
	}
	if _, still := r.noTwin[cg.ID]; still {
		t.Fatal("tracked cgroup still in noTwin")
	}
	if m, ok := r.fromWalk(c.walkID); !ok || c.walkID == cg.ID {
		t.Fatalf("tracked twin %d (cgroup2 id %d) not read from the walk: %+v, %v", c.walkID, cg.ID, m, ok)
	}

	gone := testutil.NewCgroup(t)
	rescan(good)
	if _, ok := r.noTwin[gone.ID]; !ok {
		t.Fatal("second cgroup without a twin not in noTwin")
	}
	if err := os.Remove(gone.Dir); err != nil {
		t.Fatal(err)
	}
	rescan(good)
	if _, ok := r.noTwin[gone.ID]; ok {
		t.Fatal("removed cgroup still in noTwin")
	}
}

// failingWalk is a walk of p's tree whose program is closed: every walk
// fails.
func failingWalk(t *testing.T, p *Probe) *probe.CgroupWalk[memoryCgroupMemory] {
	t.Helper()
	closed, err := p.bpf.WalkMemory.Clone()
	if err != nil {
		t.Fatal(err)
	}
	closed.Close()
	bad, err := probe.NewCgroupWalk[memoryCgroupMemory](closed, p.bpf.Figures, p.bpf.Walked, p.figures.files.root)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bad.Close)
	return bad
}

// TestTableInWorkloadOrder: the table comes out in the order scrapes
// want, without a sort of its own.
func TestTableInWorkloadOrder(t *testing.T) {
	r := quietProbe(t).figures
	const n = 8
	for range n {
		newMemCgroup(t, testLimit)
	}
	r.rounds = 0 // a rescan
	r.refresh(time.Now())
	rows := r.snapshot()
	if len(rows) < n || !slices.IsSortedFunc(rows, func(a, b figures) int { return series.CompareWorkloads(&a.w, &b.w) }) {
		t.Fatalf("table of %d rows (at least %d) not in workload order", len(rows), n)
	}
}
