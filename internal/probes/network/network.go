// Package network is the network probe: TCP and UDP payload bytes and packets
// per workload, TCP connections by direction and result, active connections,
// state transitions, retransmits and RTT, one event per connection opened,
// closed or failed, and a bounded table of recent flows.
//
// Everything is attributed to the socket's cgroup, not to an IP address and
// not to whichever task the kernel runs on when a packet arrives; see
// network.bpf.c for how payload bytes are made exact.
package network

import (
	"context"
	"fmt"
	"sync"

	"github.com/cilium/ebpf/link"

	"github.com/orb8/orb8/internal/probe"
)

// Name is the probe's name in configuration and metrics.
const Name = "network"

// DefaultFlowTableSize bounds the flow table the agent keeps.
const DefaultFlowTableSize = 16384

// Probe is the network probe.
type Probe struct {
	env   probe.Env
	flows *flowTable
	nat   natTable
	comms probe.Comms // of the ring reader's goroutine

	mu   sync.Mutex // guards objs and iter against Close during Flows
	objs *probe.Objects
	iter *link.Iter
}

// New returns an unstarted network probe whose flow table keeps up to
// flowTableSize flows.
func New(flowTableSize int) *Probe { return &Probe{flows: newFlowTable(flowTableSize)} }

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.objs
}

// Start implements probe.Probe.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	spec, err := loadNetwork()
	if err != nil {
		return err
	}
	// Byte counting (and RTT, sampled at its flushes) needs all of these;
	// retransmits and the flow iterator are upgrades a kernel may refuse.
	objs, err := probe.Load(spec, probe.LoadOptions{
		Required:   []string{"on_set_state", "on_send", "on_recv", "on_consumed", "on_destroy"},
		Manual:     []string{"dump_flows"},
		CgroupPath: env.CgroupRoot,
	})
	if err != nil {
		return err
	}
	p.env = env
	if err := objs.ReadRing("events", p.handle); err != nil {
		objs.Close()
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.objs = objs
	if prog := objs.Programs["dump_flows"]; prog != nil {
		it, err := link.AttachIter(link.IterOptions{Program: prog, Map: objs.Maps["conns"]})
		if err != nil {
			objs.Failed["dump_flows"] = probe.Explain(fmt.Errorf("attach flow iterator: %w", err))
		} else {
			p.iter = it
		}
	}
	return nil
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.objs == nil {
		return nil
	}
	if p.iter != nil {
		p.iter.Close()
		p.iter = nil
	}
	p.nat.close()
	return probe.Release(&p.objs)
}

// Forget implements probe.Forgetter.
func (p *Probe) Forget(ids []uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.objs != nil {
		probe.DeleteKeys(p.objs.Maps["stats"], ids)
	}
}
