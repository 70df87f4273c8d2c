// Package cgroups is the cgroup watcher probe: it feeds cgroup2 mkdir and
// rmdir to the resolver, and names the ids the resolver has not seen with a
// cgroup iterator (Linux 6.1+). Without it the resolver still works, looking
// up each unseen id by file handle (which needs CAP_DAC_READ_SEARCH).
package cgroups

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
)

// Name is the probe's name in configuration and metrics.
const Name = "cgroup"

// Programs: the cgroup iterator only names ids no mkdir event named;
// open_by_handle_at does it without.
var Programs = probe.Programs{
	Required: []string{cgroupsProgHandleMkdir, cgroupsProgHandleRmdir},
	Optional: map[string]string{cgroupsProgCgroupNames: "naming cgroups by the cgroup iterator (open_by_handle_at names them instead)"},
}

// rootID is the id of every cgroup2 hierarchy's root.
const rootID = 1

// Probe is the cgroup watcher.
type Probe struct {
	resolver *cgroup.Resolver
	// mu guards objs against the resolver's calls of its Watcher during Close.
	mu   sync.Mutex
	objs *probe.Objects
	// unnamed counts mkdirs whose cut path no other way named: lost too.
	unnamed   atomic.Uint64
	bpf       cgroupsObjects
	following bool // the resolver follows the tree through this probe
}

// New returns a watcher that updates resolver.
func New(resolver *cgroup.Resolver) *Probe { return &Probe{resolver: resolver} }

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects { return p.objs }

// Start implements probe.Probe.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	spec, err := loadCgroups()
	if err != nil {
		return err
	}
	objs, err := probe.Load(spec, &p.bpf, probe.LoadOptions{Programs: Programs, Manual: []string{cgroupsProgCgroupNames}})
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.objs = objs
	p.mu.Unlock()
	if err := objs.ReadRing(p.bpf.Events, p.handle); err != nil {
		p.Close()
		return err
	}
	p.nameUnseenIDs(env)
	if !probe.CgroupV1() {
		// The resolver now hears of every unified cgroup: refreshers list
		// them from it instead of walking the tree, which it walks again
		// itself after the ring lost events. (In v1 mode the events are
		// unified cgroups, the resolver's are v1 memory cgroups.)
		if err := p.resolver.Follow(ringWatcher{p}); err != nil {
			p.Close()
			return err
		}
		p.following = true
	}
	return nil
}

// nameUnseenIDs makes the resolver name unseen ids with the cgroup iterator
// once it has named the root; where the kernel lacks the iterator (before
// 6.1), and in cgroup v1 mode (the iterator finds only unified cgroups), the
// resolver keeps open_by_handle_at.
func (p *Probe) nameUnseenIDs(env probe.Env) {
	prog := p.bpf.CgroupNames
	if prog == nil || probe.CgroupV1() {
		return // why the iterator is missing is in the objects' Failed, reported with the probe
	}
	namer := &idNamer{prog: prog}
	if path, err := namer.Path(rootID); err != nil || path != "/" {
		p.objs.Failed[cgroupsProgCgroupNames] = fmt.Errorf("naming the root cgroup gave %q: %w", path, err)
		return
	}
	p.resolver.SetPathFinder(namer.Path)
}

// ringWatcher is the probe as the resolver's cgroup.Watcher.
type ringWatcher struct{ p *Probe }

// Lost counts the events the kernel could not put in the ring (full) and
// the ones that could not be named; it cannot tell once the ring's reader
// stopped.
func (w ringWatcher) Lost() (uint64, bool) {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if w.p.objs == nil || w.p.objs.Stopped() != nil {
		return 0, false
	}
	c, err := w.p.objs.Counters()
	return c.RingbufLost + w.p.unnamed.Load(), err == nil
}

// Sync hands the resolver the events in the ring.
func (w ringWatcher) Sync() {
	w.p.mu.Lock()
	defer w.p.mu.Unlock()
	if w.p.objs != nil {
		w.p.objs.Sync()
	}
}

func (p *Probe) handle(raw []byte) {
	if len(raw) < int(unsafe.Sizeof(cgroupsEvent{})) {
		return
	}
	e := (*cgroupsEvent)(unsafe.Pointer(&raw[0]))
	switch e.Op {
	case cgroupsOpOP_MKDIR:
		path := probe.CString(e.Path[:])
		if len(path) == len(e.Path)-1 { // maybe cut: named from its id instead
			if _, _, named := p.resolver.VisibleNamed(e.Id); !named {
				p.unnamed.Add(1) // as if lost: the resolver's next listing walks the tree
			}
			return
		}
		p.resolver.Add(e.Id, path)
	case cgroupsOpOP_RMDIR:
		p.resolver.Remove(e.Id, time.Now())
	}
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	if p.following {
		p.resolver.Unfollow()
		p.following = false
	}
	if p.bpf.CgroupNames != nil {
		p.resolver.SetPathFinder(nil)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return probe.Release(&p.objs)
}

// Describe implements probe.Probe; the watcher exports nothing of its own.
func (p *Probe) Describe(chan<- *prometheus.Desc) {}

// Collect implements probe.Probe.
func (p *Probe) Collect(chan<- prometheus.Metric) error { return nil }
