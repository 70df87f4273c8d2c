package cgroup

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// TestResolverLive: a resolver lists cgroups only once it follows the
// tree, then every existing one, made before or after it started.
func TestResolverLive(t *testing.T) {
	root := t.TempDir()
	if err := os.Mkdir(filepath.Join(root, "before"), 0o755); err != nil {
		t.Fatal(err)
	}
	r := resolverAt(t, root, 100)
	if err := os.Mkdir(filepath.Join(root, "after"), 0o755); err != nil {
		t.Fatal(err)
	}
	live := func(root string) (map[string]uint64, bool) {
		got := map[string]uint64{}
		ok := r.Live(root, func(id uint64, path string) { got[path] = id })
		return got, ok
	}
	if _, ok := live(root); ok {
		t.Fatal("Live answered before Follow")
	}
	if err := r.Follow(&countingWatcher{countable: true}); err != nil {
		t.Fatal(err)
	}
	got, ok := live(root)
	if want := walkDirIDs(t, root); !ok || !maps.Equal(got, want) {
		t.Fatalf("Live: %v (%v), want %v", got, ok, want)
	}
	r.Remove(got["/before"], time.Now())
	if got, _ := live(root); len(got) != 2 || got["/before"] != 0 {
		t.Errorf("after Remove: %v", got)
	}
	if _, ok := live(root + "/before"); ok {
		t.Error("Live answered for another root")
	}
	r.Unfollow()
	if _, ok := live(root); ok {
		t.Error("Live answered after Unfollow")
	}
}

// countingWatcher is a Watcher that says what it is told.
type countingWatcher struct {
	lost      uint64
	countable bool
	syncs     int
}

func (w *countingWatcher) Lost() (uint64, bool) { return w.lost, w.countable }
func (w *countingWatcher) Sync()                { w.syncs++ }

// TestResolverResyncsAfterLostEvents: once the watcher says it lost events,
// the next listing has the watcher hand over what it holds, then walks the
// tree again: it has the cgroups whose mkdir was lost and not those whose
// rmdir was; a cgroup the watcher removed stays removed; later listings
// walk no more until the next loss. A watcher that cannot count its losses
// gets no listing, and neither does a walk that fails.
func TestResolverResyncsAfterLostEvents(t *testing.T) {
	root := t.TempDir()
	for _, d := range []string{"kept", "rmdir-lost", "rmdir-seen"} {
		if err := os.Mkdir(filepath.Join(root, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	r := resolverAt(t, root, 100)
	w := &countingWatcher{lost: 7, countable: true}
	if err := r.Follow(w); err != nil {
		t.Fatal(err)
	}
	ids := walkDirIDs(t, root)
	// Events the watcher lost: a mkdir and an rmdir; one it saw: an rmdir
	// whose directory the walk below still finds (removed meanwhile).
	if err := os.Mkdir(filepath.Join(root, "mkdir-lost"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(root, "rmdir-lost")); err != nil {
		t.Fatal(err)
	}
	r.Remove(ids["/rmdir-seen"], time.Now())
	live := func() []string {
		var got []string
		if !r.Live(root, func(_ uint64, path string) { got = append(got, path) }) {
			return nil
		}
		slices.Sort(got)
		return got
	}
	if got, want := live(), []string{"/", "/kept", "/rmdir-lost"}; !slices.Equal(got, want) || w.syncs != 0 {
		t.Fatalf("before the losses are counted: %v (%d syncs), want %v", got, w.syncs, want)
	}
	w.lost = 9
	if got, want := live(), []string{"/", "/kept", "/mkdir-lost"}; !slices.Equal(got, want) || w.syncs != 1 {
		t.Fatalf("after the losses: %v (%d syncs), want %v after 1", got, w.syncs, want)
	}
	if !r.Removed(ids["/rmdir-lost"]) || !r.Removed(ids["/rmdir-seen"]) {
		t.Error("a removed cgroup is not marked removed")
	}
	// Renamed behind the resolver's back (a plain directory allows it,
	// cgroupfs does not): only a walk would see the new name.
	if err := os.Rename(filepath.Join(root, "kept"), filepath.Join(root, "renamed")); err != nil {
		t.Fatal(err)
	}
	if got, want := live(), []string{"/", "/kept", "/mkdir-lost"}; !slices.Equal(got, want) || w.syncs != 1 {
		t.Fatalf("with no new loss: %v (%d syncs), want %v and no walk", got, w.syncs, want)
	}
	w.countable = false
	if got := live(); got != nil {
		t.Errorf("listed %v while the watcher cannot count its losses", got)
	}
	// A loss within resyncEvery of the last walk waits for it to pass.
	w.countable, w.lost = true, 10
	if got, want := live(), []string{"/", "/kept", "/mkdir-lost"}; !slices.Equal(got, want) || w.syncs != 1 {
		t.Fatalf("a loss right after a walk: %v (%d syncs), want %v and no walk", got, w.syncs, want)
	}
	defer func(every time.Duration) { resyncEvery = every }(resyncEvery)
	resyncEvery = 0
	if err := os.Rename(root, root+".away"); err != nil {
		t.Fatal(err)
	}
	if got := live(); got != nil {
		t.Errorf("listed %v after a walk that failed", got)
	}
	if err := os.Rename(root+".away", root); err != nil {
		t.Fatal(err)
	}
	if got, want := live(), []string{"/", "/mkdir-lost", "/renamed"}; !slices.Equal(got, want) {
		t.Errorf("after the walk could be done: %v, want %v", got, want)
	}
}

// TestWalkKeepsRemovalsOfUnknownIDs: while a walk runs (its removedUnknown
// set), the rmdir of a cgroup the resolver never heard of is kept, and the
// walk's addNew then leaves that cgroup out; the next walk starts afresh.
func TestWalkKeepsRemovalsOfUnknownIDs(t *testing.T) {
	root := t.TempDir()
	r := resolverAt(t, root, 100)
	if err := os.Mkdir(filepath.Join(root, "unheard"), 0o755); err != nil {
		t.Fatal(err)
	}
	id := walkDirIDs(t, root)["/unheard"]
	w := &countingWatcher{countable: true}
	// The rmdir arrives while a walk runs, before the walk reaches the
	// directory it read.
	r.mu.Lock()
	r.removedUnknown = map[uint64]bool{}
	r.mu.Unlock()
	r.Remove(id, time.Now())
	r.mu.RLock()
	heard := r.removedUnknown[id]
	r.mu.RUnlock()
	if !heard {
		t.Fatal("the removal of an unknown id during a walk was not kept")
	}
	r.addNew(id, "/unheard")
	if _, ok := r.byID[id]; ok {
		t.Fatal("a walk added a cgroup removed while it ran")
	}
	if err := r.Follow(w); err != nil {
		t.Fatal(err)
	}
	if r.removedUnknown != nil {
		t.Error("removals are still kept after the walk")
	}
	if r.Removed(id) || r.Lookup(id).Path != "/unheard" {
		t.Error("the next walk did not add the cgroup, whose directory stays")
	}
}

// TestResolverResyncsWhileEventsCome: listings from two goroutines while
// events arrive and the watcher keeps losing some (run under -race).
func TestResolverResyncsWhileEventsCome(t *testing.T) {
	root, trash := t.TempDir(), t.TempDir()
	r := resolverAt(t, root, 1000)
	var lost atomic.Uint64
	if err := r.Follow(watcherFunc(func() (uint64, bool) { return lost.Load(), true })); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	stop := sync.OnceFunc(func() { close(done); wg.Wait() })
	defer stop()
	for range 2 {
		wg.Go(func() {
			for {
				select {
				case <-done:
					return
				default:
					r.Live(root, func(uint64, string) {})
				}
			}
		})
	}
	defer func(every time.Duration) { resyncEvery = every }(resyncEvery)
	resyncEvery = 0
	var moved []uint64
	for i := range 200 {
		dir := filepath.Join(root, fmt.Sprint(i))
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		id := walkDirIDs(t, dir)["/"]
		r.Add(id, "/"+fmt.Sprint(i))
		if i%3 == 0 {
			// Moved out, not removed: a removed directory's inode number,
			// its id here, could come back with the next mkdir (a cgroup's
			// id never does).
			if err := os.Rename(dir, filepath.Join(trash, fmt.Sprint(i))); err != nil {
				t.Fatal(err)
			}
			r.Remove(id, time.Now())
			moved = append(moved, id)
		}
		if i%10 == 0 {
			lost.Add(1)
		}
	}
	stop()
	for _, id := range moved {
		if !r.Removed(id) {
			t.Fatalf("cgroup %d came back after it was removed", id)
		}
	}
	lost.Add(1)
	n := 0
	if !r.Live(root, func(uint64, string) { n++ }) || n != 1+200-67 {
		t.Errorf("listed %d cgroups, want %d", n, 1+200-67)
	}
}

// watcherFunc is a Watcher with nothing to hand over.
type watcherFunc func() (uint64, bool)

func (f watcherFunc) Lost() (uint64, bool) { return f() }
func (watcherFunc) Sync()                  {}

// knownList is a Known that lists fixed cgroups.
type knownList map[uint64]string

func (k knownList) Live(_ string, fn func(uint64, string)) bool {
	for id, p := range k {
		fn(id, p)
	}
	return true
}

// TestRetrackFromKnown: with a Known, Retrack tracks what it lists, without
// walking (the root here does not exist), and forgets the rest.
func TestRetrackFromKnown(t *testing.T) {
	tracked := map[uint64]string{1: "/a", 9: "/gone"}
	var closed []string
	Retrack("/nonexistent", knownList{1: "/a", 2: "/b"}, tracked, func(id uint64, path string) bool {
		tracked[id] = path
		return true
	}, func(p string) { closed = append(closed, p) })
	if want := map[uint64]string{1: "/a", 2: "/b"}; !maps.Equal(tracked, want) || len(closed) != 1 || closed[0] != "/gone" {
		t.Fatalf("tracked %v, closed %v", tracked, closed)
	}
}
