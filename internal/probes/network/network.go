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

	"github.com/cilium/ebpf"
	"github.com/cilium/ebpf/link"

	"github.com/orb8/orb8/internal/conntrack"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
)

// Name is the probe's name in configuration and metrics.
const Name = "network"

// EventKinds are the kinds of event the probe publishes.
var EventKinds = []string{events.KindTCP}

// DefaultFlowTableSize bounds the flow table the agent keeps.
const DefaultFlowTableSize = 16384

// Probe is the network probe.
type Probe struct {
	// Sampling sheds connection records under load (flows and events);
	// the series are kernel counts, never sampled.
	probe.Sampling
	env   probe.Env
	flows *flowTable
	nat   conntrack.Lazy // the node's table, for the Service backends of flows
	comms probe.Comms    // of the ring reader's goroutine

	mu    sync.Mutex // guards objs, bpf and iters against Close during Flows
	objs  *probe.Objects
	bpf   networkObjects
	iters []flowIter // attached; Flows runs the first
	rows  probe.RowCache[networkNetStats]
}

// flowIter is one attached flow iterator program.
type flowIter struct {
	prog string
	link *link.Iter
}

// Programs: byte counting (and RTT, sampled at its flushes) needs the
// required ones. Live flows, and counts of open connections as of a scrape
// rather than as of their close, come from the walk over the connection
// table, which needs no map-element iterator (some kernel builds refuse
// those).
var Programs = probe.Programs{
	Required: []string{networkProgOnSetState, networkProgOnSend, networkProgOnRecv, networkProgOnDestroy},
	Optional: map[string]string{
		networkProgOnRetransmit:       "retransmitted segments",
		networkProgOnRetransmitSynack: "retransmitted SYN-ACKs",
		networkProgWalkFlows:          "live flows and live counts of open connections",
	},
}

// flowIterProgs are the programs that list live sockets.
var flowIterProgs = []string{networkProgWalkFlows}

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
	objs, err := probe.Load(spec, &p.bpf, probe.LoadOptions{
		Programs:   Programs,
		Manual:     flowIterProgs,
		CgroupPath: env.CgroupRoot,
		PerCgroup:  []string{networkMapStats},
	})
	if err != nil {
		return err
	}
	p.env = env
	p.nat.Log = env.Log
	// Close records feed the flow table, which Flows brings up to date
	// first: only watchers of tcp events need them at once.
	objs.RelaxWakeups(func() bool { return env.Events.Wants(events.KindTCP) })
	if err := objs.ReadRing(p.bpf.Events, p.handle); err != nil {
		objs.Close()
		return err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	p.objs = objs
	p.Use(p.bpf.Orb8SampleEvery)
	p.iters = p.attachFlowIters()
	// Open records go to user space only for watchers of tcp events, or
	// where no flow walk lists open connections (bpf/events.h).
	walked := len(p.iters) > 0
	probe.EmitBits(objs, env.Events, func() uint32 {
		if !walked || env.Events.Wants(events.KindTCP) {
			return 1 << networkEventKindEVENT_OPEN
		}
		return 0
	})
	return nil
}

// LearnPeers makes the first connection of each workload to each peer (a
// remote address and port; for inbound ones, the local port) reach user
// space even while load shedding drops the others, as a tcp event, for
// behaviour profiles. It costs a lookup in a bounded LRU map per
// connection, and is off until called.
func (p *Probe) LearnPeers() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.objs == nil {
		return fmt.Errorf("the %s probe does not run", Name)
	}
	return p.bpf.FirstPeers.Set(uint32(1))
}

// attachFlowIters attaches the flow iterator if the kernel loaded it.
func (p *Probe) attachFlowIters() []flowIter {
	if p.bpf.WalkFlows == nil {
		return nil
	}
	l, err := link.AttachIter(link.IterOptions{Program: p.bpf.WalkFlows})
	if err != nil {
		p.objs.Failed[networkProgWalkFlows] = probe.Explain(ebpf.Tracing, fmt.Errorf("attach flow iterator: %w", err))
		return nil
	}
	return []flowIter{{networkProgWalkFlows, l}}
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.objs == nil {
		return nil
	}
	for _, it := range p.iters {
		it.link.Close()
	}
	p.iters = nil
	p.nat.Close()
	return probe.Release(&p.objs)
}
