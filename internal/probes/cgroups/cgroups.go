// Package cgroups is the cgroup watcher probe: it feeds cgroup2 mkdir and
// rmdir to the resolver. Without it the resolver still works, looking up each
// unseen id by file handle.
package cgroups

import (
	"context"
	"time"
	"unsafe"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/probe"
)

// Name is the probe's name in configuration and metrics.
const Name = "cgroup"

// Probe is the cgroup watcher.
type Probe struct {
	resolver *cgroup.Resolver
	objs     *probe.Objects
	bpf      cgroupsObjects
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
	objs, err := probe.Load(spec, &p.bpf, probe.LoadOptions{Required: []string{cgroupsProgHandleMkdir, cgroupsProgHandleRmdir}})
	if err != nil {
		return err
	}
	p.objs = objs
	if err := objs.ReadRing(p.bpf.Events, p.handle); err != nil {
		p.Close()
		return err
	}
	return nil
}

func (p *Probe) handle(raw []byte) {
	if len(raw) < int(unsafe.Sizeof(cgroupsEvent{})) {
		return
	}
	e := (*cgroupsEvent)(unsafe.Pointer(&raw[0]))
	switch e.Op {
	case cgroupsOpOP_MKDIR:
		p.resolver.Add(e.Id, probe.CString(e.Path[:]))
	case cgroupsOpOP_RMDIR:
		p.resolver.Remove(e.Id, time.Now())
	}
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	return probe.Release(&p.objs)
}

// Describe implements probe.Probe; the watcher exports nothing of its own.
func (p *Probe) Describe(chan<- *prometheus.Desc) {}

// Collect implements probe.Probe.
func (p *Probe) Collect(chan<- prometheus.Metric) error { return nil }
