package memory

import (
	"context"
	"errors"
	"io/fs"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/trend"
)

// figures are one cgroup's memory figures at the last refresh.
type figures struct {
	w       cgroup.Workload
	usage   uint64
	limit   uint64
	limited bool
	eta     float64 // seconds, valid when hasETA
	hasETA  bool
}

// refresher reads every cgroup's memory files at a fixed interval into a
// table that scrapes read: a scrape never touches cgroupfs.
type refresher struct {
	files    hierarchy
	v2Root   string
	resolver probe.Resolver
	window   int
	rule     etaRule

	mu    sync.RWMutex
	table []figures

	// Owned by the refreshing goroutine.
	trends map[uint64]*trend.Window // working set samples of limited cgroups
	buf    []byte
}

func newRefresher(files hierarchy, v2Root string, r probe.Resolver, window int) *refresher {
	return &refresher{
		files: files, v2Root: v2Root, resolver: r, window: window, rule: defaultETA,
		trends: map[uint64]*trend.Window{}, buf: make([]byte, 16*1024),
	}
}

// run refreshes at every tick until ctx ends.
func (r *refresher) run(ctx context.Context, interval time.Duration) {
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case now := <-tick.C:
			r.refresh(now)
		}
	}
}

// refresh walks the cgroup2 tree and reads each cgroup's figures.
func (r *refresher) refresh(now time.Time) {
	var table []figures
	seen := make(map[uint64]bool, len(r.trends))
	_ = filepath.WalkDir(r.v2Root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) { // removed while walking
				return nil
			}
			return err
		}
		if !d.IsDir() {
			return nil
		}
		info, err := d.Info()
		if err != nil {
			return nil
		}
		st, ok := info.Sys().(*syscall.Stat_t)
		if !ok {
			return nil
		}
		rel := "/" + strings.TrimPrefix(strings.TrimPrefix(p, r.v2Root), "/")
		dir := filepath.Join(r.files.root, rel)
		if f, ok := r.read(st.Ino, dir); ok {
			if f.limited {
				seen[st.Ino] = true
				f.eta, f.hasETA = r.predict(st.Ino, dir, now, f)
			}
			table = append(table, f)
		}
		return nil
	})
	for id := range r.trends {
		if !seen[id] {
			delete(r.trends, id)
		}
	}
	r.mu.Lock()
	r.table = table
	r.mu.Unlock()
}

// read reads one cgroup's usage and limit; ok is false when the cgroup has
// no memory figures (no v1 cgroup of that path, no memory controller there).
func (r *refresher) read(id uint64, dir string) (figures, bool) {
	b, err := readInto(filepath.Join(dir, r.files.usage), r.buf)
	if err != nil {
		return figures{}, false
	}
	usage, err := parseBytes(b)
	if err != nil {
		return figures{}, false
	}
	f := figures{usage: usage}
	if b, err = readInto(filepath.Join(dir, r.files.limit), r.buf); err == nil {
		f.limit, f.limited, _ = parseLimit(b)
	}
	f.w = r.resolver.Lookup(id)
	f.w.ID = 0
	return f, true
}

// predict adds a working set sample of a limited cgroup and returns its OOM ETA.
func (r *refresher) predict(id uint64, dir string, now time.Time, f figures) (float64, bool) {
	// The working set (usage less inactive page cache, as the kubelet
	// counts it) is what an OOM kill is about: inactive cache is reclaimed first.
	ws := f.usage
	if b, err := readInto(filepath.Join(dir, "memory.stat"), r.buf); err == nil {
		if inactive, ok := statValue(b, r.files.inactiveFile); ok && inactive < ws {
			ws -= inactive
		}
	}
	w := r.trends[id]
	if w == nil {
		w = trend.NewWindow(r.window)
		r.trends[id] = w
	}
	w.Add(now, float64(ws))
	return r.rule.predict(w, ws, f.limit)
}

// snapshot returns the table of the last refresh; callers must not modify it.
func (r *refresher) snapshot() []figures {
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.table
}
