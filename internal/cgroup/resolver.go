package cgroup

import (
	"encoding/binary"
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/sys/unix"
)

// fileidKernfs is the file handle type of kernfs (cgroupfs): its handle is
// the 8-byte cgroup id, so open_by_handle_at finds a cgroup from its id.
const fileidKernfs = 0xfe

// Enricher adds names to a workload, e.g. from the Kubernetes API. By value:
// a pointer handed to an interface method escapes, and Lookup, which runs
// per event, would allocate its workload every time.
type Enricher interface {
	Enrich(w Workload) Workload
}

// VersionedEnricher is an Enricher that says when its answers may have
// changed (kube.Index): the resolver keeps each cgroup's enriched workload
// while the version stays, and a scrape that names every cgroup of the
// node once per probe does not ask the enricher each time.
type VersionedEnricher interface {
	Enricher
	Version() uint64
}

type entry struct {
	w         Workload
	removedAt time.Time // zero while the cgroup exists
	// enriched is w as the enricher named it last; an entry's w never
	// changes (Add makes a new entry).
	enriched atomic.Pointer[enrichedWorkload]
}

// enrichedWorkload is an enricher's answer about a cgroup: valid while
// the resolver has the same enricher (installed) and it the same version.
type enrichedWorkload struct {
	w                  Workload
	installed, version uint64
}

// PathFinder names a live cgroup from its id: its path relative to the
// cgroup2 mount, "/" for the root.
type PathFinder func(id uint64) (string, error)

// Resolver maps cgroup ids to workloads. It learns the tree at start, then
// follows mkdir/rmdir notifications (Add, Remove), walking the tree again
// only when its watcher attaches or lost some (Follow); an id it has not
// seen is named by its PathFinder, by default through the id's file handle
// (open_by_handle_at).
type Resolver struct {
	root       string
	mountFD    int
	maxEntries int
	closeOnce  sync.Once
	closeErr   error

	mu       sync.RWMutex
	byID     map[uint64]*entry
	byPath   map[string]uint64 // the id last added at each path, live or in its grace period
	enricher Enricher
	// installed counts SetEnricher calls, to tell enrichers apart.
	installed uint64
	find      PathFinder // nil: by file handle
	dropped   uint64
	// following: a watcher feeds every mkdir and rmdir (Follow).
	following bool
	// watcher feeds the events; lostSeen is its count of lost events
	// that the table has been walked again for (resync).
	watcher  Watcher
	lostSeen uint64
	resynced time.Time // when the table was last walked after lost events
	// removedUnknown: ids removed during a walk that the table lacked
	// (their mkdir lost), which the walk must not add; nil between walks.
	removedUnknown map[uint64]bool
	// resyncMu runs one walk at a time: Follow's, or one per new count
	// for concurrent listings.
	resyncMu sync.Mutex
	// generation counts changes of what Matching can return.
	generation uint64
	// renamed counts changes of what Lookup answers for an id it knew
	// (NamesStamp).
	renamed uint64
}

// NewResolver scans the cgroup2 hierarchy mounted at root.
func NewResolver(root string, maxEntries int) (*Resolver, error) {
	fd, err := unix.Open(root, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("open cgroup2 mount %s: %w", root, err)
	}
	r := &Resolver{root: root, mountFD: fd, maxEntries: maxEntries, byID: make(map[uint64]*entry), byPath: make(map[string]uint64)}
	err = Walk(root, r.Add)
	if err != nil {
		unix.Close(fd)
		return nil, fmt.Errorf("scan %s: %w", root, err)
	}
	return r, nil
}

// Watcher feeds a resolver every mkdir and rmdir of its tree (Follow).
type Watcher interface {
	// Lost is how many events it has lost so far (its ring was full); ok
	// is false when it cannot tell, or no longer feeds the resolver.
	Lost() (n uint64, ok bool)
	// Sync returns once the resolver has had every event the watcher holds.
	Sync()
}

// resyncEvery is the least time between two walks after lost events: in
// a storm of losses the table may miss cgroups that long, where each
// refresher's every rescan would otherwise walk the tree. (A variable for
// tests.)
var resyncEvery = time.Minute

// Follow is called by a watcher that from now on feeds the resolver every
// mkdir and rmdir as they happen (the cgroup probe, once attached): the
// tree is walked again for what was made or removed since the resolver's
// first walk, and from then on the resolver knows every cgroup (Live),
// walking the tree again only after the watcher lost events.
func (r *Resolver) Follow(w Watcher) error {
	r.resyncMu.Lock()
	defer r.resyncMu.Unlock()
	n, _ := w.Lost() // while it cannot tell, Live does not answer
	if err := r.reconcile(); err != nil {
		return err
	}
	r.mu.Lock()
	r.following, r.watcher, r.lostSeen, r.resynced = true, w, n, time.Time{}
	r.mu.Unlock()
	return nil
}

// Unfollow is called by the watcher when it stops.
func (r *Resolver) Unfollow() {
	r.mu.Lock()
	r.following, r.watcher = false, nil
	r.mu.Unlock()
}

// complete reports whether the table holds every cgroup under root: the
// resolver follows that tree, its table dropped none, and it has been
// walked again since the watcher last lost an event (or did so less than
// resyncEvery ago).
func (r *Resolver) complete(root string) bool {
	r.mu.RLock()
	following, w, seen, resynced := r.following && r.dropped == 0 && root == r.root, r.watcher, r.lostSeen, r.resynced
	r.mu.RUnlock()
	if !following {
		return false
	}
	n, ok := w.Lost()
	if !ok {
		return false
	}
	return n <= seen || time.Since(resynced) < resyncEvery || r.resync(w, n)
}

// resync walks the tree again after the watcher lost events (n so far).
// The watcher's pending events are handled first, so that none undoes
// the walk.
func (r *Resolver) resync(w Watcher, n uint64) bool {
	r.resyncMu.Lock()
	defer r.resyncMu.Unlock()
	w.Sync()
	r.mu.RLock()
	done := r.lostSeen >= n // by another caller meanwhile
	r.mu.RUnlock()
	if done {
		return true
	}
	if err := r.reconcile(); err != nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lostSeen, r.resynced = max(r.lostSeen, n), time.Now()
	return r.dropped == 0
}

// reconcile walks the tree: it adds the cgroups the table lacks and
// removes the ones it lists that are gone. A cgroup removed once stays
// removed (ids are never reused), one removed during the walk too, even
// if the table never had it, and one made during the walk is not removed
// for being missed.
func (r *Resolver) reconcile() error {
	r.mu.Lock()
	before := make(map[uint64]bool, len(r.byID))
	for id, e := range r.byID {
		if e.removedAt.IsZero() {
			before[id] = true
		}
	}
	r.removedUnknown = map[uint64]bool{}
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.removedUnknown = nil
		r.mu.Unlock()
	}()
	found := make(map[uint64]bool, len(before))
	err := Walk(r.root, func(id uint64, path string) {
		found[id] = true
		r.addNew(id, path)
	})
	if err != nil {
		return err
	}
	now := time.Now()
	for id := range before {
		if !found[id] {
			r.Remove(id, now)
		}
	}
	return nil
}

// addNew is Add for a cgroup found by a walk: one the table lists under
// that path stays as it is, and one it was told is removed stays removed
// (the walk may have read its directory before the rmdir).
func (r *Resolver) addNew(id uint64, path string) {
	r.mu.RLock()
	known := r.walkedKnown(id, path)
	r.mu.RUnlock()
	if !known {
		r.add(id, path, true)
	}
}

// walkedKnown reports whether a walk that found id at path tells the table
// nothing new; r.mu must be held.
func (r *Resolver) walkedKnown(id uint64, path string) bool {
	e, ok := r.byID[id]
	return ok && (!e.removedAt.IsZero() || e.w.Path == path) || r.removedUnknown[id]
}

// Live calls fn with every existing cgroup under root, when the resolver
// knows them all: it follows that tree (Follow), its table dropped none,
// and it walked the tree again if the watcher lost events (resync). It
// returns false, without calling fn, when it does not.
func (r *Resolver) Live(root string, fn func(id uint64, path string)) bool {
	type cgroup struct {
		id   uint64
		path string
	}
	if !r.complete(root) {
		return false
	}
	r.mu.RLock()
	live := make([]cgroup, 0, len(r.byID))
	for id, e := range r.byID {
		if e.removedAt.IsZero() {
			live = append(live, cgroup{id, e.w.Path})
		}
	}
	r.mu.RUnlock()
	for _, c := range live {
		fn(c.id, c.path)
	}
	return true
}

// Root is the cgroup2 mount point.
func (r *Resolver) Root() string { return r.root }

// SetEnricher installs the source of namespace/pod/container names.
func (r *Resolver) SetEnricher(e Enricher) {
	r.mu.Lock()
	r.enricher = e
	r.installed++
	r.generation++
	r.mu.Unlock()
}

// SetPathFinder installs how unseen ids are named; nil restores the default,
// open_by_handle_at, which needs CAP_DAC_READ_SEARCH.
func (r *Resolver) SetPathFinder(f PathFinder) {
	r.mu.Lock()
	r.find = f
	r.mu.Unlock()
}

// relative turns a path under the mount root into one relative to it.
func relative(root, p string) string {
	rel := strings.TrimPrefix(p, root)
	if rel == "" || rel[0] != '/' {
		rel = "/" + rel
	}
	return rel
}

// Add records a cgroup that exists. The path is relative to the mount.
func (r *Resolver) Add(id uint64, path string) { r.add(id, path, false) }

func (r *Resolver) add(id uint64, path string, walked bool) {
	w := newWorkload(id, path)
	r.mu.Lock()
	defer r.mu.Unlock()
	if walked && r.walkedKnown(id, path) {
		return
	}
	if _, ok := r.byID[id]; !ok && len(r.byID) >= r.maxEntries {
		r.dropped++
		return
	}
	old, ok := r.byID[id]
	if !ok || old.w.Path != path || !old.removedAt.IsZero() {
		r.generation++
	}
	if ok && old.w.Path != path {
		r.renamed++
	}
	r.byID[id] = &entry{w: w}
	r.byPath[path] = id
}

// Generation changes whenever a cgroup is added or removed, or the
// enricher is replaced: when Matching may answer otherwise (apart from
// what the enricher itself learns).
func (r *Resolver) Generation() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.generation
}

func newWorkload(id uint64, path string) Workload {
	info := parsePath(path)
	return Workload{ID: id, Path: path, ContainerID: info.ContainerID, PodUID: info.PodUID, Runtime: info.Runtime, Unit: info.Unit}
}

// Remove marks a cgroup as gone; it stays resolvable until Forget.
func (r *Resolver) Remove(id uint64, now time.Time) {
	r.mu.Lock()
	if e, ok := r.byID[id]; ok && e.removedAt.IsZero() {
		e.removedAt = now
		r.generation++
	} else if !ok && r.removedUnknown != nil {
		r.removedUnknown[id] = true
	}
	r.mu.Unlock()
}

// Forget drops cgroups removed before the deadline and returns their ids.
func (r *Resolver) Forget(before time.Time) []uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	var gone []uint64
	for id, e := range r.byID {
		if !e.removedAt.IsZero() && e.removedAt.Before(before) {
			delete(r.byID, id)
			if r.byPath[e.w.Path] == id {
				delete(r.byPath, e.w.Path)
			}
			gone = append(gone, id)
		}
	}
	if len(gone) > 0 {
		r.renamed++
	}
	return gone
}

// Due reports whether Forget(before) would forget any cgroup.
func (r *Resolver) Due(before time.Time) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	for _, e := range r.byID {
		if !e.removedAt.IsZero() && e.removedAt.Before(before) {
			return true
		}
	}
	return false
}

// Removed reports whether a cgroup is known to be gone.
func (r *Resolver) Removed(id uint64) bool {
	r.mu.RLock()
	defer r.mu.RUnlock()
	e, ok := r.byID[id]
	return ok && !e.removedAt.IsZero()
}

// Lookup returns the workload of a cgroup id. An id never seen is named by
// the PathFinder; one that cannot be (already removed) gets the path
// "/unknown/<id>" so the cgroup label is always set.
func (r *Resolver) Lookup(id uint64) Workload {
	w, _ := r.lookup(id)
	return w
}

// lookup is Lookup, and whether the id was named ("/unknown/<id>" is not:
// a later Add may name it).
func (r *Resolver) lookup(id uint64) (Workload, bool) {
	r.mu.RLock()
	e, ok := r.byID[id]
	enricher, find, installed := r.enricher, r.find, r.installed
	r.mu.RUnlock()
	var w Workload
	named := true
	if ok {
		if v, versioned := enricher.(VersionedEnricher); versioned {
			return e.enrich(v, installed), true
		}
		w = e.w
	} else if p, err := r.name(find, id); err == nil {
		// Named even when a full table does not keep it.
		w = newWorkload(id, p)
		r.Add(id, p)
	} else {
		w, named = Workload{ID: id, Path: fmt.Sprintf("/unknown/%d", id)}, false
	}
	if enricher != nil {
		w = enricher.Enrich(w)
	}
	return w, named
}

// enrich is the entry's workload as v names it, asked once per version.
func (e *entry) enrich(v VersionedEnricher, installed uint64) Workload {
	version := v.Version()
	if c := e.enriched.Load(); c != nil && c.installed == installed && c.version == version {
		return c.w
	}
	w := v.Enrich(e.w)
	e.enriched.Store(&enrichedWorkload{w: w, installed: installed, version: version})
	return w
}

// NamesStamp is a state of the resolver's names: while it stays, Lookup
// names every id it named before (VisibleNamed) as it did.
type NamesStamp struct{ renamed, installed, version uint64 }

// NamesStamp is the resolver's names now; ok is false when any answer may
// change at any time (an enricher that keeps no version). It changes when
// a known id is added under another path, when ids are forgotten, when
// another enricher is installed, and with a VersionedEnricher's version.
func (r *Resolver) NamesStamp() (s NamesStamp, ok bool) {
	r.mu.RLock()
	s.renamed, s.installed = r.renamed, r.installed
	enricher := r.enricher
	r.mu.RUnlock()
	switch e := enricher.(type) {
	case nil:
		return s, true
	case VersionedEnricher:
		s.version = e.Version()
		return s, true
	}
	return s, false
}

// VisibleNamed is Visible, and whether the answer stays while the
// NamesStamp does: false for an id not named ("/unknown/<id>").
func (r *Resolver) VisibleNamed(id uint64) (w Workload, ok, named bool) {
	w, named = r.lookup(id)
	return w, !w.Hidden, named
}

// Visible is Lookup for what the agent reports on: ok is false for a
// workload its filters hide (Workload.Hidden), whose series and events
// must not be made. Probes see the resolver through it.
func (r *Resolver) Visible(id uint64) (w Workload, ok bool) {
	w = r.Lookup(id)
	return w, !w.Hidden
}

// ByPath returns the workload of the cgroup at path (relative to the mount):
// the one created last there, while it exists or is in its grace period.
// Series are folded by path, so this is the identity behind a series.
func (r *Resolver) ByPath(path string) (Workload, bool) {
	r.mu.RLock()
	e, ok := r.byID[r.byPath[path]]
	enricher := r.enricher
	r.mu.RUnlock()
	if !ok {
		return Workload{}, false
	}
	w := e.w
	if enricher != nil {
		w = enricher.Enrich(w)
	}
	return w, true
}

// Matching returns the ids of the existing (not removed) cgroups whose
// enriched workload match accepts.
func (r *Resolver) Matching(match func(*Workload) bool) []uint64 {
	r.mu.RLock()
	live := make([]Workload, 0, len(r.byID))
	for _, e := range r.byID {
		if e.removedAt.IsZero() {
			live = append(live, e.w)
		}
	}
	enricher := r.enricher
	r.mu.RUnlock()
	var ids []uint64
	for i := range live {
		if enricher != nil {
			live[i] = enricher.Enrich(live[i])
		}
		if match(&live[i]) {
			ids = append(ids, live[i].ID)
		}
	}
	return ids
}

// Len is the number of cgroups tracked.
func (r *Resolver) Len() int {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return len(r.byID)
}

// Dropped counts cgroups not tracked because the table was full.
func (r *Resolver) Dropped() uint64 {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.dropped
}

// name names an unseen id with find, or by its file handle when find is nil.
func (r *Resolver) name(find PathFinder, id uint64) (string, error) {
	if find != nil {
		return find(id)
	}
	return r.pathByHandle(id)
}

func (r *Resolver) pathByHandle(id uint64) (string, error) {
	var b [8]byte
	binary.NativeEndian.PutUint64(b[:], id)
	fd, err := unix.OpenByHandleAt(r.mountFD, unix.NewFileHandle(fileidKernfs, b[:]), unix.O_RDONLY|unix.O_CLOEXEC)
	if err != nil {
		return "", err
	}
	defer unix.Close(fd)
	p, err := os.Readlink(fmt.Sprintf("/proc/self/fd/%d", fd))
	if err != nil {
		return "", err
	}
	return relative(r.root, p), nil
}

// Close releases the mount handle. Closing again does nothing: an owner (the
// agent) and whoever made the resolver may both close it, and a second
// close(2) of the number could close a file opened since.
func (r *Resolver) Close() error {
	r.closeOnce.Do(func() { r.closeErr = unix.Close(r.mountFD) })
	return r.closeErr
}
