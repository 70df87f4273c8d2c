// Package cgroups is the cgroup watcher probe: it feeds cgroup2 mkdir and
// rmdir to the resolver, and names the ids the resolver has not seen with a
// cgroup iterator (Linux 6.1+). Without it the resolver still works, looking
// up each unseen id by file handle (which needs CAP_DAC_READ_SEARCH).
package cgroups

import (
	"context"
	"fmt"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
)

// Name is the probe's name in configuration and metrics.
const Name = "cgroup"

const (
	opMkdir = 1
	opRmdir = 2
	// rootID is the id of every cgroup2 hierarchy's root.
	rootID = 1
)

// Probe is the cgroup watcher.
type Probe struct {
	resolver *cgroup.Resolver
	objs     *probe.Objects
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
	objs, err := probe.Load(spec, probe.LoadOptions{Required: []string{"handle_mkdir", "handle_rmdir"}, Manual: []string{"cgroup_names"}})
	if err != nil {
		return err
	}
	p.objs = objs
	if err := objs.ReadRing("events", p.handle); err != nil {
		p.Close()
		return err
	}
	p.nameUnseenIDs(env)
	return nil
}

// nameUnseenIDs makes the resolver name unseen ids with the cgroup iterator
// once it has named the root; where the kernel lacks the iterator (before
// 6.1) the resolver keeps open_by_handle_at.
func (p *Probe) nameUnseenIDs(env probe.Env) {
	prog := p.objs.Programs["cgroup_names"]
	if prog == nil {
		return // why is in the objects' Failed, reported with the probe
	}
	namer := &idNamer{prog: prog}
	if path, err := namer.Path(rootID); err != nil || path != "/" {
		p.objs.Failed["cgroup_names"] = fmt.Errorf("naming the root cgroup gave %q: %w", path, err)
		return
	}
	p.resolver.SetPathFinder(namer.Path)
}

func (p *Probe) handle(raw []byte) {
	if len(raw) < int(unsafe.Sizeof(cgroupsEvent{})) {
		return
	}
	e := (*cgroupsEvent)(unsafe.Pointer(&raw[0]))
	switch e.Op {
	case opMkdir:
		p.resolver.Add(e.Id, probe.CString(e.Path[:]))
	case opRmdir:
		p.resolver.Remove(e.Id, time.Now())
	}
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	if p.objs != nil && p.objs.Programs["cgroup_names"] != nil {
		p.resolver.SetPathFinder(nil)
	}
	return probe.Release(&p.objs)
}

// Describe implements prometheus.Collector; the watcher exports nothing of its own.
func (p *Probe) Describe(chan<- *prometheus.Desc) {}

// Collect implements prometheus.Collector.
func (p *Probe) Collect(chan<- prometheus.Metric) {}
