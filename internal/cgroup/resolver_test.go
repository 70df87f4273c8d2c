package cgroup

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

func TestLookupByHandle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	r := newResolver(t, 100000)
	dir := filepath.Join(r.Root(), "orb8-test-handle")
	os.Remove(dir)
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	defer os.Remove(dir)
	var st syscall.Stat_t
	if err := syscall.Stat(dir, &st); err != nil {
		t.Fatal(err)
	}
	if got := r.Lookup(st.Ino).Path; got != "/orb8-test-handle" {
		t.Fatalf("Lookup(%d).Path = %q, want /orb8-test-handle", st.Ino, got)
	}
}

func TestResolverLifecycle(t *testing.T) {
	r := newResolver(t, 100000)
	r.Add(1<<60, "/kubepods/besteffort/pod"+uid+"/"+cid)
	w := r.Lookup(1 << 60)
	if w.ContainerID != cid || w.PodUID != uid || w.Path != "/kubepods/besteffort/pod"+uid+"/"+cid {
		t.Fatalf("Lookup = %+v", w)
	}
	now := time.Now()
	r.Remove(1<<60, now)
	if !r.Removed(1 << 60) {
		t.Fatal("not marked removed")
	}
	if got := r.Forget(now); len(got) != 0 {
		t.Fatalf("forgot %v before the grace period ended", got)
	}
	if w := r.Lookup(1 << 60); w.ContainerID != cid {
		t.Fatalf("removed cgroup no longer resolves within grace: %+v", w)
	}
	if got := r.Forget(now.Add(time.Second)); len(got) != 1 || got[0] != 1<<60 {
		t.Fatalf("Forget = %v, want [%d]", got, uint64(1<<60))
	}
	if w := r.Lookup(1 << 60); w.Path != fmt.Sprintf("/unknown/%d", uint64(1<<60)) {
		t.Fatalf("forgotten id resolves to %q, want the unknown marker", w.Path)
	}
}

// TestGenerationFollowsMatching: the generation moves when what Matching
// returns may change, and only then.
func TestGenerationFollowsMatching(t *testing.T) {
	r := newResolver(t, 100000)
	g := r.Generation()
	step := func(what string, change bool, do func()) {
		t.Helper()
		do()
		if moved := r.Generation() != g; moved != change {
			t.Errorf("%s: generation moved %v, want %v", what, moved, change)
		}
		g = r.Generation()
	}
	step("add", true, func() { r.Add(1<<61, "/a") })
	step("add again", false, func() { r.Add(1<<61, "/a") })
	step("lookup", false, func() { r.Lookup(1 << 61) })
	step("remove", true, func() { r.Remove(1<<61, time.Now()) })
	step("remove again", false, func() { r.Remove(1<<61, time.Now()) })
	step("re-add", true, func() { r.Add(1<<61, "/a") })
	step("enricher", true, func() { r.SetEnricher(nil) })
}

// TestNamesStampFollowsLookup: the names stamp moves when Lookup may name
// an id it named before otherwise, and only then; an enricher without a
// version gives no stamp, and an id not named is not named for good.
func TestNamesStampFollowsLookup(t *testing.T) {
	r := newResolver(t, 100000)
	r.SetPathFinder(func(uint64) (string, error) { return "", os.ErrNotExist })
	s, _ := r.NamesStamp()
	step := func(what string, change bool, do func()) {
		t.Helper()
		do()
		now, ok := r.NamesStamp()
		if !ok {
			t.Fatalf("%s: no stamp", what)
		}
		if moved := now != s; moved != change {
			t.Errorf("%s: stamp moved %v, want %v", what, moved, change)
		}
		s = now
	}
	e := &versionedEnricher{pod: "a", version: 1}
	step("add", false, func() { r.Add(1<<61, "/a") })
	step("lookup", false, func() { r.Lookup(1 << 61) })
	step("remove", false, func() { r.Remove(1<<61, time.Now()) })
	step("re-add", false, func() { r.Add(1<<61, "/a") })
	step("add under another path", true, func() { r.Add(1<<61, "/b") })
	step("enricher", true, func() { r.SetEnricher(e) })
	step("same version", false, func() {})
	step("new version", true, func() { e.version++ })
	step("forget nothing", false, func() { r.Forget(time.Now()) })
	step("remove", false, func() { r.Remove(1<<61, time.Now().Add(-time.Minute)) })
	step("forget", true, func() { r.Forget(time.Now()) })
	if _, _, named := r.VisibleNamed(1 << 61); named {
		t.Error("a forgotten id that cannot be named again: named")
	}
	r.Add(1<<62, "/c")
	if w, visible, named := r.VisibleNamed(1 << 62); !visible || !named || w.Path != "/c" || w.Pod != "a" {
		t.Errorf("a known id: %+v, visible %v, named %v", w, visible, named)
	}
	r.SetEnricher(fakeEnricher{})
	if _, ok := r.NamesStamp(); ok {
		t.Error("an enricher without a version: a stamp")
	}
}

func TestResolverIsBounded(t *testing.T) {
	r := newResolver(t, 0)
	if r.Len() != 0 || r.Dropped() == 0 {
		t.Fatalf("a zero-size table tracks %d and dropped %d", r.Len(), r.Dropped())
	}
}

func TestFullResolverStillNamesByHandle(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	r := newResolver(t, 0)
	var st syscall.Stat_t
	if err := syscall.Stat(r.Root(), &st); err != nil {
		t.Fatal(err)
	}
	if got := r.Lookup(st.Ino).Path; got != "/" {
		t.Fatalf("Lookup(%d).Path with a full table = %q, want /", st.Ino, got)
	}
	if r.Len() != 0 {
		t.Fatalf("a zero-size table tracks %d", r.Len())
	}
}

type fakeEnricher struct{}

func (fakeEnricher) Enrich(w Workload) Workload {
	if w.PodUID == uid {
		w.Namespace, w.Pod, w.Container = "ns", "web-0", "app"
	}
	return w
}

func TestEnricherNamesWorkloads(t *testing.T) {
	r := newResolver(t, 100000)
	r.SetEnricher(fakeEnricher{})
	r.Add(1<<61, "/kubepods/pod"+uid+"/"+cid)
	got := r.Lookup(1 << 61).LabelValues()
	want := []string{"ns", "web-0", "app", "/kubepods/pod" + uid + "/" + cid}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("labels = %q, want %q", got, want)
	}
}

// versionedEnricher names every workload's pod pod, counting the calls.
type versionedEnricher struct {
	pod            string
	version, calls uint64
}

func (e *versionedEnricher) Enrich(w Workload) Workload {
	e.calls++
	w.Pod = e.pod
	return w
}

func (e *versionedEnricher) Version() uint64 { return e.version }

// TestVersionedEnricherAskedOncePerVersion: a cgroup's enriched workload
// is kept while the enricher's version stays, asked again when it
// changes or another enricher is installed.
func TestVersionedEnricherAskedOncePerVersion(t *testing.T) {
	r := newResolver(t, 100000)
	e := &versionedEnricher{pod: "a", version: 1}
	r.SetEnricher(e)
	r.Add(1<<61, "/kubepods/pod"+uid+"/"+cid)
	expect := func(pod string, calls uint64) {
		t.Helper()
		if got := r.Lookup(1 << 61).Pod; got != pod || e.calls != calls {
			t.Fatalf("pod %q after %d enrichments, want %q after %d", got, e.calls, pod, calls)
		}
	}
	expect("a", 1)
	e.pod = "b" // not yet told
	expect("a", 1)
	e.version = 2
	expect("b", 2)
	expect("b", 2)
	e = &versionedEnricher{pod: "c", version: 2}
	r.SetEnricher(e)
	expect("c", 1)
	r.Add(1<<61, "/kubepods/pod"+uid+"/"+cid) // recreated: asked again
	expect("c", 2)
}

// Lookup runs for every event that reaches the agent (connection records,
// DNS messages): a known cgroup, enriched or not, allocates nothing.
func TestLookupAllocatesNothing(t *testing.T) {
	r := newResolver(t, 100000)
	r.Add(1<<61, "/kubepods/pod"+uid+"/"+cid)
	for _, e := range []Enricher{nil, fakeEnricher{}, &versionedEnricher{pod: "a"}} {
		r.SetEnricher(e)
		if n := testing.AllocsPerRun(100, func() { r.Lookup(1 << 61) }); n != 0 {
			t.Fatalf("enricher %T: %v allocations per lookup", e, n)
		}
	}
}

func TestMatchingListsLiveEnrichedWorkloads(t *testing.T) {
	r := newResolver(t, 100000)
	r.SetEnricher(fakeEnricher{})
	r.Add(1<<62, "/kubepods/pod"+uid+"/"+cid)
	r.Add(1<<62+1, "/kubepods/pod"+uid+"/"+strings.Repeat("b", 64))
	r.Remove(1<<62+1, time.Now())
	got := r.Matching(func(w *Workload) bool { return w.Pod == "web-0" })
	if len(got) != 1 || got[0] != 1<<62 {
		t.Fatalf("Matching(pod web-0) = %v, want only the live cgroup %d", got, uint64(1<<62))
	}
}

// A second Close (the agent and the resolver's maker both close it) leaves
// alone the file that took the mount handle's number meanwhile.
func TestCloseTwiceKeepsOthersFiles(t *testing.T) {
	root, err := FindMount()
	if err != nil {
		t.Skip(err)
	}
	r, err := NewResolver(root, 100000)
	if err != nil {
		t.Skip(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(root) // the lowest free number: the one just closed
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := r.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if _, err := f.Stat(); err != nil {
		t.Fatalf("the file reusing the handle's number was closed: %v", err)
	}
}

// newResolver scans the host's cgroup2 mount into a resolver of max entries,
// closed when the test ends.
func newResolver(t *testing.T, max int) *Resolver {
	t.Helper()
	root, err := FindMount()
	if err != nil {
		t.Fatal(err)
	}
	return resolverAt(t, root, max)
}

// resolverAt scans the tree at root into a resolver of max entries,
// closed when the test ends.
func resolverAt(t *testing.T, root string, max int) *Resolver {
	t.Helper()
	r, err := NewResolver(root, max)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}
