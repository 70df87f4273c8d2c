package network

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"syscall"
	"time"

	"github.com/cilium/ebpf/link"

	"github.com/orb8/orb8/internal/cgroup"
	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/lru"
	"github.com/orb8/orb8/internal/probe"
)

// Flow is one TCP connection of a workload, open or recently ended.
type Flow struct {
	// Cookie is the kernel's socket cookie: the connection's id on this node.
	Cookie    uint64
	Workload  cgroup.Workload
	Protocol  string // tcp
	Direction string // outbound, inbound, or empty when older than the agent
	Local     netip.AddrPort
	Remote    netip.AddrPort
	NetNS     uint32 // network namespace inode
	State     string // TCP state: ESTABLISHED, ..., CLOSE
	Result    string
	Reason    string // why it failed or ended: refused, timeout, reset, ...
	// Process is a process of the workload that used the socket (connect,
	// send, receive); zero when none was seen.
	Process events.Process
	events.Traffic
	FirstSeen time.Time // connect() or SYN received
	LastSeen  time.Time // last payload moved, or the end
	// Backend is where the connection really went when Remote is a Service
	// IP (nat.go); invalid until looked up, and when not translated.
	Backend netip.AddrPort
	// final: the socket was released or the handshake failed; nothing will change.
	final bool
	// backendLooked: Backend was looked up; a connection's NAT never changes.
	backendLooked bool
}

// flowTable keeps the most recently active flows, evicting the least
// recently updated one when full.
type flowTable struct {
	mu        sync.Mutex
	flows     *lru.Table[uint64, Flow] // by cookie
	evictions uint64
}

func newFlowTable(size int) *flowTable {
	return &flowTable{flows: lru.New[uint64, Flow](size)}
}

// put records what a connection event or a live snapshot says about a flow.
func (t *flowTable) put(f *Flow) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.flows.Get(f.Cookie); ok {
		switch {
		case f.FirstSeen.After(cur.FirstSeen):
			*cur = *f // the socket connected again: a new connection
		case cur.final && !f.final:
			return // a snapshot taken before the end
		default:
			merge(cur, f)
		}
		t.flows.Touch(f.Cookie)
		return
	}
	if _, _, evicted := t.flows.Put(f.Cookie, *f); evicted {
		t.evictions++
	}
}

// merge updates a flow with a later record of the same connection.
func merge(cur, f *Flow) {
	cur.State, cur.Result, cur.Reason, cur.final = f.State, f.Result, f.Reason, f.final
	if f.Direction != "" {
		cur.Direction = f.Direction
	}
	cur.TxBytes = max(cur.TxBytes, f.TxBytes)
	cur.RxBytes = max(cur.RxBytes, f.RxBytes)
	cur.TxPackets = max(cur.TxPackets, f.TxPackets)
	cur.RxPackets = max(cur.RxPackets, f.RxPackets)
	cur.Retransmits = max(cur.Retransmits, f.Retransmits)
	if f.RTT != 0 {
		cur.RTT = f.RTT
	}
	if f.Process.PID != 0 {
		cur.Process = f.Process
	}
	if f.LastSeen.After(cur.LastSeen) {
		cur.LastSeen = f.LastSeen
	}
}

// setBackend records the looked-up backend of f's connection, unless the
// socket has connected again since.
func (t *flowTable) setBackend(f *Flow) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if cur, ok := t.flows.Get(f.Cookie); ok {
		if cur.FirstSeen.Equal(f.FirstSeen) {
			cur.Backend, cur.backendLooked = f.Backend, true
		}
	}
}

// list returns copies of the flows, most recently updated first.
func (t *flowTable) list() []Flow {
	t.mu.Lock()
	defer t.mu.Unlock()
	var out []Flow
	for _, f := range t.flows.All {
		out = append(out, *f)
	}
	return out
}

// stats returns the number of flows held and evicted so far.
func (t *flowTable) stats() (flows int, evictions uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.flows.Len(), t.evictions
}

// Flows returns every flow of the table, most recently active first. The
// records in the ring are read and open connections are read from the
// kernel first, so the table and their counts are as of the call; if that
// fails, the error comes with the table as it was.
//
// Backend is set for connections to a translated address: one that
// translated says NAT replaces with an endpoint (a Service's ClusterIP,
// which kube-proxy's rules replace in the node's network namespace, where
// the pod's own address is the source). A connection's backend is read from
// the node's conntrack table once and kept with the flow: its NAT never
// changes.
func (p *Probe) Flows(translated func(netip.Addr) bool) ([]Flow, error) {
	if objs := p.Objects(); objs != nil {
		objs.Sync() // records wait up to 32 ms while nobody watches tcp events (Start)
	}
	err := p.refresh()
	flows := p.flows.list()
	if translated == nil {
		return flows, err
	}
	for i := range flows {
		if f := &flows[i]; !f.backendLooked && translated(f.Remote.Addr()) {
			f.Backend = p.nat.Destination(syscall.IPPROTO_TCP, f.Local, f.Remote)
			p.flows.setBackend(f)
		}
	}
	return flows, err
}

// refresh puts the live sockets into the flow table, from the first flow
// iterator.
func (p *Probe) refresh() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.objs == nil {
		return fmt.Errorf("network probe not running")
	}
	if len(p.iters) == 0 {
		var errs []error
		for _, name := range flowIterProgs {
			errs = append(errs, p.objs.Failed[name])
		}
		return fmt.Errorf("no flow iterator running: %w", errors.Join(errs...))
	}
	live, err := p.readLive(p.iters[0].link)
	for i := range live {
		p.flows.put(&live[i])
	}
	return err
}

// readLive runs the flow walk, which takes what every tracked socket
// moved into its workload's counters and stamps its entry with what the
// socket says now, then lists the stamped entries' flows. An entry this walk
// did not stamp is a socket freed since its last use, whose close record is
// on its way. Callers hold p.mu.
func (p *Probe) readLive(it *link.Iter) ([]Flow, error) {
	if err := probe.RunIter(it); err != nil {
		return nil, fmt.Errorf("walk flows: %w", err)
	}
	var walk, walked uint64
	if err := errors.Join(p.bpf.Walks.Get(&walk), p.bpf.Walked.Get(&walked)); err != nil {
		return nil, fmt.Errorf("walk flows: %w", err)
	}
	if walk == 0 {
		return nil, fmt.Errorf("walk flows: the walk did not run") // every entry would look stamped
	}
	var comms probe.Comms // the ring reader's is its own
	live := make([]Flow, 0, walked)
	err := probe.ForEach(p.bpf.Conns, func(_ uint64, c *networkConn) {
		if c.Live.Walk != walk {
			return
		}
		e := liveRecord(c)
		if f, ok := p.flowOf(&e, &comms); ok {
			live = append(live, f)
		}
	})
	if err != nil {
		return live, fmt.Errorf("read flows: %w", err)
	}
	return live, nil
}
