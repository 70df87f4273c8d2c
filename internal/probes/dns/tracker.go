package dns

import (
	"errors"
	"net/netip"
	"sync"
	"time"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/lru"
)

// Config bounds the probe's user-space state.
type Config struct {
	// Timeout after which a query without a response counts as unanswered.
	Timeout time.Duration
	// MaxPending bounds the queries waiting for their response in user space
	// (TCP, and the UDP lookups being named; the kernel holds UDP queries
	// for their counts); when full the oldest gives way (counted as
	// dropped, reason pending_full).
	MaxPending int
	// MaxStreams bounds the TCP connections whose message boundaries are
	// followed; when full the least recently used is forgotten.
	MaxStreams int
	// MaxWorkloads bounds the cgroups counted (like ORB8_MAX_CGROUPS).
	MaxWorkloads int
}

// DefaultConfig is what the agent runs with.
func DefaultConfig() Config {
	return Config{Timeout: 5 * time.Second, MaxPending: 65536, MaxStreams: 16384, MaxWorkloads: 16384}
}

// packet is one captured DNS packet of a workload's socket.
type packet struct {
	bootNs   uint64
	cgroup   uint64
	tcp      bool
	egress   bool // sent by the workload (to port 53), else received (from port 53)
	src, dst netip.AddrPort
	seq      uint32 // TCP sequence number of data[0]
	length   int    // L4 payload bytes of the packet, at least len(data)
	data     []byte // the captured head of the payload
	// weight is the messages this one stands for: the sampling rate it was
	// kept at (1 when nothing is shed; 0 is taken as 1).
	weight uint64
	// unheard: nobody listens for DNS events, so the answered lookups are
	// counted but not returned (the unanswered, rare, still are).
	unheard bool
	// counted: the kernel matched and counted the message (UDP,
	// bpf/lookups.h); the tracker only names the lookup.
	counted bool
}

// queryKey matches a response to its query: the socket's cgroup, the
// connection and the DNS id.
type queryKey struct {
	cgroup         uint64
	tcp            bool
	client, server netip.AddrPort
	id             uint16
}

type pendingQuery struct {
	bootNs  uint64
	qname   string
	qtype   string
	weight  uint64 // the query's packet.weight
	counted bool   // the kernel counts it unanswered (packet.counted)
}

// transaction is a finished lookup: answered, unanswered, or a response whose
// query was not seen.
type transaction struct {
	cgroup uint64
	bootNs uint64
	dns    events.DNS
}

// Reasons a DNS message or query is not fully accounted for.
const (
	dropMalformed     = iota // not a DNS message the parser accepts
	dropWorkloadsFull        // the per-workload table is full
	dropPendingFull          // a waiting query gave way to a newer one
	dropStreamLost           // a TCP message boundary was lost (capture limit, gap)
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"malformed", "workloads_full", "pending_full", "stream_lost"}

// tracker turns captured packets into per-workload counts and transactions.
// It is plain Go (no kernel), so its bookkeeping is unit-tested directly.
type tracker struct {
	cfg     Config
	mu      sync.Mutex
	stats   map[uint64]*workloadStats
	pending *lru.Table[queryKey, pendingQuery]
	streams *lru.Table[streamKey, streamState]
	dropped [numDropReasons]uint64
}

func newTracker(cfg Config) *tracker {
	return &tracker{
		cfg:     cfg,
		stats:   make(map[uint64]*workloadStats),
		pending: lru.New[queryKey, pendingQuery](cfg.MaxPending),
		streams: lru.New[streamKey, streamState](cfg.MaxStreams),
	}
}

// packet accounts one captured packet and returns the lookups it finished,
// including queries that timed out before it.
func (t *tracker) packet(p *packet) []transaction {
	p.weight = max(p.weight, 1)
	t.mu.Lock()
	defer t.mu.Unlock()
	out := t.expireLocked(p.bootNs)
	if !p.tcp {
		return t.messageLocked(p, p.data, out)
	}
	for _, msg := range t.tcpMessagesLocked(p) {
		out = t.messageLocked(p, msg, out)
	}
	return out
}

// expire ends the queries older than the timeout at boot time nowNs.
func (t *tracker) expire(nowNs uint64) []transaction {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.expireLocked(nowNs)
}

func (t *tracker) expireLocked(nowNs uint64) []transaction {
	timeout := uint64(t.cfg.Timeout)
	if nowNs < timeout {
		return nil
	}
	before := nowNs - timeout
	var out []transaction
	t.pending.ExpireWhile(func(q *pendingQuery) bool { return q.bootNs <= before }, func(k queryKey, q pendingQuery) {
		if ws := t.stats[k.cgroup]; ws != nil && !q.counted {
			ws.unanswered[q.qtype] += q.weight
		}
		out = append(out, transaction{cgroup: k.cgroup, bootNs: q.bootNs, dns: events.DNS{
			QName: q.qname, QType: q.qtype, Server: k.server, Client: k.client, Protocol: protocolName(k.tcp), ID: k.id,
		}})
	})
	t.streams.ExpireWhile(func(s *streamState) bool { return s.lastNs <= before }, func(streamKey, streamState) {})
	return out
}

// messageLocked accounts one DNS message of packet p: counts it unless the
// kernel did, and returns the lookup it finished.
func (t *tracker) messageLocked(p *packet, b []byte, out []transaction) []transaction {
	m, err := Parse(b)
	if len(b) < headerLen || m.Response == p.egress { // a workload sends queries and receives responses
		t.dropLocked(p, dropMalformed)
		return out
	}
	questionOK := err == nil || errors.Is(err, ErrNoQuestion)
	qname, qtype := m.Question.Name, noQuestionLabel
	if err == nil {
		qtype = TypeName(m.Question.Type)
	}
	if !questionOK && !m.Response {
		t.dropLocked(p, dropMalformed)
		return out
	}
	var ws *workloadStats // nil when the kernel counted the message
	if !p.counted {
		if ws = t.workloadLocked(p.cgroup); ws == nil {
			return out
		}
	}
	if !m.Response {
		if ws != nil {
			ws.queries[qtype] += p.weight
		}
		key := queryKey{cgroup: p.cgroup, tcp: p.tcp, client: p.src, server: p.dst, id: m.ID}
		if _, resent := t.pending.Get(key); resent {
			return out // a retry of a waiting query keeps the first send time
		}
		q := pendingQuery{bootNs: p.bootNs, qname: qname, qtype: qtype, weight: p.weight, counted: p.counted}
		if _, _, evicted := t.pending.Put(key, q); evicted {
			t.dropLocked(p, dropPendingFull)
		}
		return out
	}

	key := queryKey{cgroup: p.cgroup, tcp: p.tcp, client: p.dst, server: p.src, id: m.ID}
	q, matched := t.pending.Get(key)
	if !questionOK { // a response cut short still counts when its query is known
		if !matched {
			t.dropLocked(p, dropMalformed)
			return out
		}
		qname, qtype = q.qname, q.qtype
	}
	rcode := RCodeName(m.RCode)
	var latency time.Duration
	if matched {
		latency = time.Duration(p.bootNs - q.bootNs)
		t.pending.Delete(key) // q is the entry's own: copy what is needed first
	}
	if ws != nil {
		ws.responses[responseKey{qtype: qtype, rcode: rcode}] += p.weight
		if matched {
			ws.latency.observe(latency.Seconds(), p.weight)
		} else {
			ws.unmatched += p.weight
		}
	}
	if p.unheard {
		return out
	}
	d := events.DNS{
		QName: qname, QType: qtype, RCode: rcode, Answered: true, Answers: int(m.ANCount), Latency: latency,
		Server: p.src, Client: p.dst, Protocol: protocolName(p.tcp), ID: m.ID,
	}
	for _, a := range m.Answers {
		if a.Addr.IsValid() {
			d.Addrs = append(d.Addrs, a.Addr)
		}
	}
	return append(out, transaction{cgroup: p.cgroup, bootNs: p.bootNs, dns: d})
}

// dropLocked counts a message of p not accounted for, unless the kernel
// counted p: then only the naming of its lookup is lost.
func (t *tracker) dropLocked(p *packet, reason int) {
	if !p.counted {
		t.dropped[reason]++
	}
}

// unanswered counts a query of cgroup of type qtype that the kernel held
// past the timeout (bpf/lookups.h).
func (t *tracker) unanswered(cgroup uint64, qtype string) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if ws := t.workloadLocked(cgroup); ws != nil {
		ws.unanswered[qtype]++
	}
}

func (t *tracker) workloadLocked(cgroup uint64) *workloadStats {
	if ws := t.stats[cgroup]; ws != nil {
		return ws
	}
	if len(t.stats) >= t.cfg.MaxWorkloads {
		t.dropped[dropWorkloadsFull]++
		return nil
	}
	ws := newWorkloadStats()
	t.stats[cgroup] = ws
	return ws
}

// forget drops the counts of removed cgroups.
func (t *tracker) forget(ids []uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		delete(t.stats, id)
	}
}

// snapshot copies the counts for a scrape, so scrapes never hold up packets
// for longer than the copy.
func (t *tracker) snapshot() (map[uint64]*workloadStats, [numDropReasons]uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[uint64]*workloadStats, len(t.stats))
	for id, ws := range t.stats {
		c := newWorkloadStats()
		c.add(ws)
		out[id] = c
	}
	return out, t.dropped
}

func protocolName(tcp bool) string {
	if tcp {
		return "tcp"
	}
	return "udp"
}
