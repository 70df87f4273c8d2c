package http

import (
	crand "crypto/rand"
	"encoding/hex"
	"math/rand/v2"
	"net/netip"

	"go.opentelemetry.io/otel/trace"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/lru"
)

// linkTTLNs is how long a client request's span waits for the server
// request it causes on this node; a loopback or pod-to-pod hop takes far
// less, and a request to another node is never claimed.
const linkTTLNs = 5_000_000_000

// connEnds are a connection's client and server ends: the source and the
// destination of its requests, as the client sends and the server receives
// them.
type connEnds struct{ client, server netip.AddrPort }

// clientSpan is a client request's place in its trace, kept for the server
// request it causes on this node.
type clientSpan struct {
	trace  trace.TraceID
	span   trace.SpanID
	bootNs uint64
}

// pendingSpans are the client spans of one connection not yet claimed by
// a server, oldest first, and when the last was added.
type pendingSpans struct {
	spans  []clientSpan
	lastNs uint64
}

// spanLinker gives each request its trace and span ids and links a server
// request to the client request of this node that sent it: both see the
// connection's ends alike, or the server the end that NAT sent the client's
// packets to (a Service's endpoint), and HTTP/1.x requests one connection
// carries in order. Used under the tracker's lock.
type spanLinker struct {
	rng     *rand.ChaCha8
	pending *lru.Table[connEnds, pendingSpans] // bounded by MaxLinks
	maxPer  int
	// translate is where NAT sent a client's connection to server (the
	// zero AddrPort: nowhere else); nil when not followed.
	translate func(client, server netip.AddrPort) netip.AddrPort
	// sentTo is each client end's last server ends, as the client sent to
	// them (one port may connect to several); translated the server end a
	// client sent to for the server's view of a connection, learned once per
	// connection. Both bounded by MaxLinks.
	sentTo     *lru.Table[netip.AddrPort, sentEnds]
	translated *lru.Table[connEnds, netip.AddrPort]
}

// sentEnds are the server ends a client end last sent to, newest last.
type sentEnds struct {
	ends [4]netip.AddrPort
	n    int
}

func (s *sentEnds) add(e netip.AddrPort) {
	for i := range s.n {
		if s.ends[i] == e {
			return
		}
	}
	if s.n == len(s.ends) {
		copy(s.ends[:], s.ends[1:])
		s.n--
	}
	s.ends[s.n] = e
	s.n++
}

func newSpanLinker(cfg Config) *spanLinker {
	var seed [32]byte
	crand.Read(seed[:])
	return &spanLinker{
		rng: rand.NewChaCha8(seed), pending: lru.New[connEnds, pendingSpans](cfg.MaxLinks), maxPer: max(cfg.MaxPipelined, 1),
		sentTo: lru.New[netip.AddrPort, sentEnds](cfg.MaxLinks), translated: lru.New[connEnds, netip.AddrPort](cfg.MaxLinks),
	}
}

// place sets d's trace, span and parent ids; the request carried
// traceparent (nil: none), its first byte seen at ns going from src to dst.
func (l *spanLinker) place(d *events.HTTP, traceparent []byte, server bool, src, dst netip.AddrPort, ns uint64) {
	l.rng.Read(d.SpanID[:])
	ends := connEnds{client: src, server: dst}
	l.pending.ExpireWhile(func(p *pendingSpans) bool { return older(p.lastNs, ns) }, func(connEnds, pendingSpans) {})
	traceID, parent, carried := parseTraceparent(traceparent)
	// TLS requests have no addresses: all would share one pair of ends.
	linkable := src.IsValid() && dst.IsValid()
	if server && linkable {
		ends = l.clientView(ends)
		if p, ok := l.pending.Get(ends); ok {
			claimed := p.spans[0]
			if p.spans = p.spans[1:]; len(p.spans) == 0 {
				l.pending.Delete(ends)
			}
			if !carried && !older(claimed.bootNs, ns) {
				traceID, parent, carried = claimed.trace, claimed.span, true
			}
		}
	}
	if !carried {
		l.rng.Read(traceID[:])
	}
	d.TraceID, d.ParentSpanID = traceID, parent
	if !server && linkable {
		l.keep(ends, clientSpan{trace: traceID, span: d.SpanID, bootNs: ns})
	}
}

// clientView is a server's ends of a connection as its client saw them:
// a client of this node whose spans wait on a connection to another server
// end (a Service's address) that NAT sent to this server. Only ends with
// waiting spans are asked of conntrack, and an answer is kept while its
// client's spans wait.
func (l *spanLinker) clientView(ends connEnds) connEnds {
	if _, ok := l.pending.Get(ends); ok || l.translate == nil {
		return ends
	}
	waiting := func(server netip.AddrPort) bool {
		_, ok := l.pending.Get(connEnds{client: ends.client, server: server})
		return ok
	}
	if sent, ok := l.translated.Get(ends); ok && waiting(*sent) {
		return connEnds{client: ends.client, server: *sent}
	}
	sent, ok := l.sentTo.Get(ends.client)
	if !ok {
		return ends
	}
	for _, to := range sent.ends[:sent.n] {
		if to != ends.server && waiting(to) && l.translate(ends.client, to) == ends.server {
			l.translated.Put(ends, to)
			return connEnds{client: ends.client, server: to}
		}
	}
	return ends
}

// older reports whether then is more than linkTTLNs before now; then may
// be a little after now (timestamps of two CPUs, read in ring order).
func older(then, now uint64) bool { return int64(now-then) > linkTTLNs }

// keep holds a client span for the server request it may cause.
func (l *spanLinker) keep(ends connEnds, s clientSpan) {
	if l.translate != nil {
		if sent, ok := l.sentTo.Get(ends.client); ok {
			sent.add(ends.server)
			l.sentTo.Touch(ends.client)
		} else {
			var sent sentEnds
			sent.add(ends.server)
			l.sentTo.Put(ends.client, sent)
		}
	}
	p, ok := l.pending.Get(ends)
	if !ok {
		l.pending.Put(ends, pendingSpans{})
		p, _ = l.pending.Get(ends)
	} else {
		l.pending.Touch(ends)
	}
	if len(p.spans) >= l.maxPer {
		p.spans = p.spans[1:]
	}
	p.spans, p.lastNs = append(p.spans, s), s.bootNs
}

// parseTraceparent reads a W3C Trace Context traceparent value:
// version-traceid-parentid-flags in lowercase hex, where a version past 00
// may add fields after a dash and flags past the sampled and random bits.
// All-zero ids and version ff are invalid.
func parseTraceparent(v []byte) (trace.TraceID, trace.SpanID, bool) {
	var (
		tid trace.TraceID
		sid trace.SpanID
	)
	const size = 55 // 2+1+32+1+16+1+2
	if len(v) < size || (len(v) > size && (v[0] == '0' && v[1] == '0' || v[size] != '-')) ||
		v[2] != '-' || v[35] != '-' || v[52] != '-' || !lowerHex(v[:2]) || string(v[:2]) == "ff" || !lowerHex(v[53:size]) {
		return tid, sid, false
	}
	if !lowerHex(v[3:35]) || !lowerHex(v[36:52]) || (string(v[:2]) == "00" && (v[53] != '0' || v[54] > '3')) {
		return tid, sid, false
	}
	hex.Decode(tid[:], v[3:35])
	hex.Decode(sid[:], v[36:52])
	return tid, sid, tid.IsValid() && sid.IsValid()
}

func lowerHex(b []byte) bool {
	for _, c := range b {
		if !digit(c) && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}
