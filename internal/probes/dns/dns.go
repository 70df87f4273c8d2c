// Package dns is the DNS probe: every workload's DNS lookups over UDP and TCP
// port 53, IPv4 and IPv6, in any network namespace, counted per workload by
// query type and response code with the query-to-response latency, and
// streamed one lookup at a time (query name, answers, server) as events.
//
// The kernel side (dns.bpf.c) matches and counts UDP lookups itself, and
// copies the head of a port-53 packet of the workload's side as a client into
// a ring buffer when user space needs it: every TCP message (matched and
// counted here), and the UDP messages of lookups someone listens for, which
// are named here (the query name, the answers).
package dns

import (
	"context"
	"sync/atomic"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
	"github.com/orb8/orb8/internal/tick"
)

// Name is the probe's name in configuration and metrics.
const Name = "dns"

// EventKinds are the kinds of event the probe publishes.
var EventKinds = []string{events.KindDNS}

// Programs are both required.
var Programs = probe.Programs{Required: []string{dnsProgDnsEgress, dnsProgDnsIngress}}

// Probe is the DNS probe.
type Probe struct {
	// Sampling sheds messages under load: a TCP message kept at rate N
	// counts as N queries or responses (its sample_rate); UDP lookups are
	// counted in the kernel, whatever the rate.
	probe.Sampling
	cfg     Config
	objs    *probe.Objects
	bpf     dnsObjects
	env     probe.Env
	tracker *tracker
	stop    func() // ends the expiry loop
	// expireFailing: the last walk of the kernel's waiting queries failed.
	expireFailing bool
	// expired: the kernel's waiting queries the walk has freed.
	expired atomic.Uint64
}

// New returns an unstarted DNS probe with the default configuration.
func New() *Probe { return NewWithConfig(DefaultConfig()) }

// NewWithConfig returns an unstarted DNS probe with cfg.
func NewWithConfig(cfg Config) *Probe { return &Probe{cfg: cfg} }

// Name implements probe.Probe.
func (p *Probe) Name() string { return Name }

// Objects implements probe.Probe.
func (p *Probe) Objects() *probe.Objects { return p.objs }

// Start implements probe.Probe.
func (p *Probe) Start(ctx context.Context, env probe.Env) error {
	spec, err := loadDns()
	if err != nil {
		return err
	}
	if err := spec.Variables[dnsVarDnsKnownTypes].Set(knownTypes()); err != nil {
		return err
	}
	if err := spec.Variables[dnsVarDnsTimeoutNs].Set(uint64(p.cfg.Timeout)); err != nil {
		return err
	}
	p.env, p.tracker = env, newTracker(p.cfg)
	objs, err := probe.Load(spec, &p.bpf, probe.LoadOptions{
		Programs:   Programs,
		CgroupPath: env.CgroupRoot,
		PerCgroup:  []string{dnsMapDnsCounts, dnsMapDnsStats},
	})
	if err != nil {
		return err
	}
	p.objs = objs
	p.Use(p.bpf.Orb8SampleEvery)
	probe.EmitBits(objs, env.Events, func() uint32 { return emitBits(env.Events) })
	if err := objs.ReadRing(p.bpf.Events, p.handle); err != nil {
		p.Close()
		return err
	}
	p.stop = tick.Every(ctx, max(p.cfg.Timeout/4, 10*time.Millisecond), p.expire)
	return nil
}

// expire ends unanswered queries, the kernel's and the tracker's, also
// while no packets arrive.
func (p *Probe) expire(time.Time) {
	var now unix.Timespec
	if unix.ClockGettime(unix.CLOCK_BOOTTIME, &now) != nil {
		return
	}
	// Logged when it starts failing, not on every tick.
	err := p.expireKernel(uint64(now.Nano()))
	if err != nil && !p.expireFailing {
		p.env.Log.Warn("dns: unanswered queries not counted", "err", err)
	}
	p.expireFailing = err != nil
	if txs := p.tracker.expire(uint64(now.Nano())); p.heard() {
		p.publish(txs)
	}
}

// headerSize is sizeof(struct dns_header): the captured payload follows it.
const headerSize = int(unsafe.Sizeof(dnsDnsHeader{}))

func (p *Probe) handle(raw []byte) {
	p.Took()
	if len(raw) < headerSize {
		return
	}
	e := (*dnsDnsHeader)(unsafe.Pointer(&raw[0]))
	data := raw[headerSize:]
	pkt := packet{
		bootNs:  e.BootNs,
		cgroup:  e.CgroupId,
		tcp:     e.Protocol == unix.IPPROTO_TCP,
		egress:  e.Direction == dnsDirectionDIR_EGRESS,
		src:     probe.AddrPort(e.Family, &e.Saddr, e.Sport),
		dst:     probe.AddrPort(e.Family, &e.Daddr, e.Dport),
		seq:     e.TcpSeq,
		length:  int(e.PayloadLen),
		data:    data[:min(int(e.Captured), len(data), int(e.PayloadLen))],
		weight:  uint64(e.SampleRate),
		unheard: !p.heard(),
		counted: e.Counted != 0,
	}
	if txs := p.tracker.packet(&pkt); !pkt.unheard {
		p.publish(txs)
	}
}

// heard reports whether anyone listens for DNS events. Asked per packet: a
// client may start listening at any time. The API keeps its own log of
// lookups from the bus; nothing is built while no one listens.
func (p *Probe) heard() bool { return p.env.Hears(events.KindDNS) }

// publish streams finished lookups as events.
func (p *Probe) publish(txs []transaction) {
	for i := range txs {
		p.env.PublishAt(txs[i].cgroup, txs[i].bootNs, events.Event{Kind: events.KindDNS, DNS: &txs[i].dns})
	}
}

// Close implements probe.Probe.
func (p *Probe) Close() error {
	if p.stop != nil {
		p.stop()
		p.stop = nil
	}
	return probe.Release(&p.objs)
}

// Forget implements probe.Forgetter.
func (p *Probe) Forget(ids []uint64) {
	if p.tracker != nil {
		p.tracker.forget(ids)
	}
}
