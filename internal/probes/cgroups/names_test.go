package cgroups

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/cilium/ebpf"
	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/testutil"
)

// start starts the watcher on a resolver of a table of maxEntries.
func start(t testing.TB, maxEntries int) (*Probe, *cgroup.Resolver, string) {
	t.Helper()
	testutil.RequireRoot(t)
	root, err := cgroup.FindMount()
	if err != nil {
		t.Fatal(err)
	}
	res, err := cgroup.NewResolver(root, maxEntries)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { res.Close() })
	p := New(res)
	if err := p.Start(context.Background(), probe.Env{Resolver: res, Events: events.NewBus(), Log: slog.Default(), CgroupRoot: root}); err != nil {
		t.Fatalf("start cgroup probe: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p, res, root
}

// startWithFullTable starts the watcher on a resolver that tracks nothing,
// so that every Lookup names its id afresh.
func startWithFullTable(t testing.TB) (*Probe, *cgroup.Resolver) {
	t.Helper()
	p, res, _ := start(t, 0)
	if err := p.Objects().Failed[cgroupsProgCgroupNames]; err != nil {
		t.Fatalf("cgroup iterator: %v", err)
	}
	return p, res
}

// withoutDACCapabilities runs f on a thread of its own whose effective
// capabilities lack CAP_DAC_READ_SEARCH and CAP_DAC_OVERRIDE, like the
// agent's container; the thread ends with f.
func withoutDACCapabilities(t *testing.T, f func()) {
	t.Helper()
	failed := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread exits with the goroutine
		hdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
		var data [2]unix.CapUserData
		if err := unix.Capget(&hdr, &data[0]); err != nil {
			failed <- err
			return
		}
		data[0].Effective &^= 1<<unix.CAP_DAC_READ_SEARCH | 1<<unix.CAP_DAC_OVERRIDE
		if err := unix.Capset(&hdr, &data[0]); err != nil {
			failed <- err
			return
		}
		f()
		failed <- nil
	}()
	if err := <-failed; err != nil {
		t.Fatalf("drop DAC capabilities: %v", err)
	}
}

// TestNamesUnseenIDsWithoutDACReadSearch: an id the resolver has not seen is
// named exactly through the cgroup iterator by a thread that lacks
// CAP_DAC_READ_SEARCH, where open_by_handle_at fails.
func TestNamesUnseenIDsWithoutDACReadSearch(t *testing.T) {
	_, res := startWithFullTable(t)
	cg := testutil.NewCgroup(t)
	nested := cg.Child(t, "kubepods/besteffort/pod0b7c1f9e-2a4d-4c3e-9f1a-5d6e7f8a9b0c/c1")
	var viaIterator, viaHandle, root cgroup.Workload
	withoutDACCapabilities(t, func() {
		viaIterator, root = res.Lookup(nested.ID), res.Lookup(rootID)
		res.SetPathFinder(nil)
		viaHandle = res.Lookup(nested.ID)
	})
	if viaIterator.Path != nested.Path || viaIterator.PodUID != "0b7c1f9e-2a4d-4c3e-9f1a-5d6e7f8a9b0c" {
		t.Errorf("through the iterator: Lookup(%d) = %+v, want path %s", nested.ID, viaIterator, nested.Path)
	}
	if root.Path != "/" {
		t.Errorf("through the iterator: Lookup(root) = %q, want /", root.Path)
	}
	if want := fmt.Sprintf("/unknown/%d", nested.ID); viaHandle.Path != want {
		t.Errorf("by file handle without CAP_DAC_READ_SEARCH: path %q, want %q (the capability no longer matters?)", viaHandle.Path, want)
	}
	if res.Len() != 0 {
		t.Errorf("a zero-size table tracks %d", res.Len())
	}
}

// TestRemovedCgroupHasNoName: the iterator refuses the id of a removed
// cgroup, so the resolver marks it unknown instead of naming it wrongly.
func TestRemovedCgroupHasNoName(t *testing.T) {
	p, _ := startWithFullTable(t)
	cg := testutil.NewCgroup(t)
	child := cg.Child(t, "gone")
	if err := os.Remove(child.Dir); err != nil {
		t.Fatal(err)
	}
	namer := &idNamer{prog: p.bpf.CgroupNames}
	if path, err := namer.Path(child.ID); err == nil {
		t.Fatalf("Path(removed %d) = %q, want an error", child.ID, path)
	}
	if path, err := namer.Path(cg.ID); err != nil || path != cg.Path {
		t.Fatalf("Path(%d) = %q, %v; want %s", cg.ID, path, err, cg.Path)
	}
}

func TestJoinChain(t *testing.T) {
	rec := func(id uint64, level uint32, name string) cgroupsCgroupName {
		r := cgroupsCgroupName{Id: id, Level: level}
		copy(r.Name[:], name)
		return r
	}
	for _, tc := range []struct {
		name  string
		id    uint64
		chain []cgroupsCgroupName
		want  string
	}{
		{"root", 1, []cgroupsCgroupName{rec(1, 0, "")}, "/"},
		{"nested", 9, []cgroupsCgroupName{rec(9, 2, "c"), rec(5, 1, "kubepods"), rec(1, 0, "")}, "/kubepods/c"},
		{"another cgroup first", 9, []cgroupsCgroupName{rec(8, 1, "c"), rec(1, 0, "")}, ""},
		{"a level missing", 9, []cgroupsCgroupName{rec(9, 2, "c"), rec(1, 0, "")}, ""},
		{"levels out of order", 9, []cgroupsCgroupName{rec(9, 2, "c"), rec(1, 0, ""), rec(5, 1, "k")}, ""},
		{"empty", 9, nil, ""},
	} {
		got, err := joinChain(tc.id, tc.chain)
		if tc.want == "" {
			if !errors.Is(err, errBadChain) {
				t.Errorf("%s: joinChain = %q, %v; want errBadChain", tc.name, got, err)
			}
		} else if err != nil || got != tc.want {
			t.Errorf("%s: joinChain = %q, %v; want %q", tc.name, got, err, tc.want)
		}
	}
}

// BenchmarkNameUnseenID: what naming one unseen id costs a Lookup, through
// the cgroup iterator and through open_by_handle_at.
func BenchmarkNameUnseenID(b *testing.B) {
	_, res := startWithFullTable(b)
	cg := testutil.NewCgroup(b).Child(b, "kubepods/besteffort/pod0b7c1f9e-2a4d-4c3e-9f1a-5d6e7f8a9b0c/c1")
	b.Run("iterator", func(b *testing.B) {
		for b.Loop() {
			if res.Lookup(cg.ID).Path != cg.Path {
				b.Fatal("wrong path")
			}
		}
	})
	b.Run("handle", func(b *testing.B) {
		res.SetPathFinder(nil)
		for b.Loop() {
			if res.Lookup(cg.ID).Path != cg.Path {
				b.Fatal("wrong path")
			}
		}
	})
}

// startFollowing starts the watcher on a resolver that follows the tree.
func startFollowing(t *testing.T) (*Probe, *cgroup.Resolver, string) {
	t.Helper()
	if probe.CgroupV1() {
		t.Skip("in cgroup v1 mode the resolver does not follow the watcher")
	}
	return start(t, 1<<20)
}

// listedAs is the path the resolver lists id under, "" if none.
func listedAs(t *testing.T, res *cgroup.Resolver, root string, id uint64) string {
	t.Helper()
	path := ""
	if !res.Live(root, func(got uint64, p string) {
		if got == id {
			path = p
		}
	}) {
		t.Fatal("the resolver does not list")
	}
	return path
}

// TestResolverFollowsTheRingsLosses: the watcher counts its losses from the
// kernel's counter of records its ring refused, and the resolver's next
// listing after a loss walks the tree: a cgroup it has forgotten (as if its
// mkdir had been lost) is listed again, not before.
func TestResolverFollowsTheRingsLosses(t *testing.T) {
	p, res, root := startFollowing(t)
	cg := testutil.NewCgroup(t)
	p.objs.Sync()
	if got := listedAs(t, res, root, cg.ID); got != cg.Path {
		t.Fatalf("cgroup %d listed as %q, want %s", cg.ID, got, cg.Path)
	}
	res.Remove(cg.ID, time.Now().Add(-time.Hour))
	res.Forget(time.Now())
	if got := listedAs(t, res, root, cg.ID); got != "" {
		t.Fatalf("a forgotten cgroup is listed as %q before a loss", got)
	}
	w := ringWatcher{p}
	before, ok := w.Lost()
	if !ok {
		t.Fatal("the watcher cannot count its losses")
	}
	cpus, err := ebpf.PossibleCPU()
	if err != nil {
		t.Fatal(err)
	}
	perCPU := make([]uint64, cpus)
	for i := range perCPU {
		perCPU[i] = 3
	}
	// A loss as the kernel counts it: slot 0 of orb8_counters (ORB8_RINGBUF_LOST).
	if err := p.bpf.Orb8Counters.Update(uint32(0), perCPU, ebpf.UpdateExist); err != nil {
		t.Fatal(err)
	}
	if n, ok := w.Lost(); !ok || n != uint64(3*cpus) {
		t.Fatalf("lost = %d, %v after the counter was set to 3 on %d CPUs (%d before)", n, ok, cpus, before)
	}
	if got := listedAs(t, res, root, cg.ID); got != cg.Path {
		t.Fatalf("after the loss cgroup %d is listed as %q, want %s", cg.ID, got, cg.Path)
	}
}

// longPathCgroup makes a test cgroup whose path does not fit a mkdir event.
func longPathCgroup(t *testing.T) *testutil.Cgroup {
	t.Helper()
	long := testutil.NewCgroup(t).Child(t, strings.Repeat("a", 200)+"/"+strings.Repeat("b", 200)+"/"+strings.Repeat("c", 200))
	if len(long.Path) < len(cgroupsEvent{}.Path) {
		t.Fatalf("path of %d bytes fits the event", len(long.Path))
	}
	return long
}

// TestLongPathNamedFromItsID: a mkdir whose path fills the event's buffer
// (maybe cut) is named from its id, with its whole path.
func TestLongPathNamedFromItsID(t *testing.T) {
	p, res, root := startFollowing(t)
	if p.bpf.CgroupNames == nil {
		t.Skip("no cgroup iterator: open_by_handle_at names it")
	}
	w := ringWatcher{p}
	before, _ := w.Lost()
	long := longPathCgroup(t)
	p.objs.Sync()
	if n, _ := w.Lost(); n != before {
		t.Fatalf("lost %d, want %d: the iterator did not name %s", n, before, long.Path)
	}
	if got := listedAs(t, res, root, long.ID); got != long.Path {
		t.Fatalf("cgroup %d listed as %q, want %s", long.ID, got, long.Path)
	}
}

// TestUnnamedLongPathCountsAsLost: a mkdir whose path fills the event's
// buffer and that nothing else names counts as a lost event, so the
// resolver's next listing walks the tree and finds it whole.
func TestUnnamedLongPathCountsAsLost(t *testing.T) {
	p, res, root := startFollowing(t)
	res.SetPathFinder(func(uint64) (string, error) { return "", errors.New("no name here") })
	w := ringWatcher{p}
	before, ok := w.Lost()
	if !ok {
		t.Fatal("the watcher cannot count its losses")
	}
	long := longPathCgroup(t)
	p.objs.Sync()
	if n, _ := w.Lost(); n != before+1 {
		t.Fatalf("lost %d, want %d: the unnamed mkdir of %s", n, before+1, long.Path)
	}
	if got := listedAs(t, res, root, long.ID); got != long.Path {
		t.Fatalf("cgroup %d listed as %q, want %s", long.ID, got, long.Path)
	}
}
