package cgroup

import (
	"maps"
	"os"
	"path/filepath"
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
	r, err := NewResolver(root, 100)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
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
	if err := r.Follow(); err != nil {
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

// knownList is a Known that lists fixed cgroups.
type knownList map[uint64]string

func (k knownList) Live(_ string, fn func(uint64, string)) bool {
	for id, p := range k {
		fn(id, p)
	}
	return true
}

// TestRetrackFromKnown: with a Known, Retrack tracks what it lists, without
// walking (the root here does not exist), and forgets the rest; every
// walkEvery-th rescan walks instead.
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
	k := knownList{}
	for n, want := range map[int]bool{0: false, 1: true, walkEvery - 1: true, walkEvery: false, walkEvery + 1: true} {
		if got := KnownOrWalk(k, n) != nil; got != want {
			t.Errorf("rescan %d lists from the resolver: %v, want %v", n, got, want)
		}
	}
	if KnownOrWalk(struct{}{}, 1) != nil {
		t.Error("a resolver that cannot list was used")
	}
}
