package http

import (
	"encoding/hex"
	"net/netip"
	"testing"

	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/orb8/orb8/internal/events"
)

const (
	someTraceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	someTraceID     = "4bf92f3577b34da6a3ce929d0e0e4736"
	someParentID    = "00f067aa0ba902b7"
)

func TestParseTraceparent(t *testing.T) {
	for _, tc := range []struct {
		in string
		ok bool
	}{
		{someTraceparent, true},
		{"01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-future", true}, // a later version may add fields
		{someTraceparent + "-x", false},                                          // not to version 00
		{"ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01", false}, // uppercase
		{"00-00000000000000000000000000000000-00f067aa0ba902b7-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7", false},
		{"00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-07", false}, // reserved flags in version 00
		{"00_4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01", false},
		{"", false},
	} {
		tid, sid, ok := parseTraceparent([]byte(tc.in))
		if ok != tc.ok {
			t.Errorf("%q: ok %v, want %v", tc.in, ok, tc.ok)
		}
		if ok && (tid.String() != tc.in[3:35] || sid.String() != tc.in[36:52]) {
			t.Errorf("%q: %s %s", tc.in, tid, sid)
		}
	}
}

// FuzzParseTraceparent: whatever it accepts, OpenTelemetry's own W3C
// propagator accepts with the same ids.
func FuzzParseTraceparent(f *testing.F) {
	f.Add(someTraceparent)
	f.Add("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00-future")
	f.Fuzz(func(t *testing.T, v string) {
		tid, sid, ok := parseTraceparent([]byte(v))
		if !ok {
			return
		}
		ctx := propagation.TraceContext{}.Extract(t.Context(), propagation.MapCarrier{"traceparent": v})
		sc := trace.SpanContextFromContext(ctx)
		if sc.TraceID() != tid || sc.SpanID() != sid {
			t.Fatalf("%q: %s %s, the propagator %s %s", v, tid, sid, sc.TraceID(), sc.SpanID())
		}
	})
}

var (
	clientEnd = netip.MustParseAddrPort("10.0.0.1:40000")
	serverEnd = netip.MustParseAddrPort("10.0.0.2:80")
)

// placed is the trace place of a request from clientEnd to serverEnd, at
// ns, as a server or a client sees it.
func placed(l *spanLinker, server bool, traceparent string, ns uint64) events.HTTP {
	var d events.HTTP
	l.place(&d, []byte(traceparent), server, clientEnd, serverEnd, ns)
	return d
}

func TestSpanLinks(t *testing.T) {
	l := newSpanLinker(DefaultConfig())
	// Two pipelined requests: the servers claim the clients' spans in order.
	c1, c2 := placed(l, false, "", 1), placed(l, false, "", 2)
	s1, s2 := placed(l, true, "", 3), placed(l, true, "", 4)
	for _, p := range [][2]events.HTTP{{c1, s1}, {c2, s2}} {
		c, s := p[0], p[1]
		if c.ParentSpanID.IsValid() || !c.TraceID.IsValid() || !c.SpanID.IsValid() {
			t.Errorf("client %+v: want a new trace", c)
		}
		if s.TraceID != c.TraceID || s.ParentSpanID != c.SpanID || s.SpanID == c.SpanID {
			t.Errorf("server %+v, client %+v: want the server a child of the client", s, c)
		}
	}
	if c1.TraceID == c2.TraceID {
		t.Error("two client requests share a trace")
	}
	// A server's timestamp may be a little before its client's.
	if c, s := placed(l, false, "", 1000), placed(l, true, "", 900); s.ParentSpanID != c.SpanID {
		t.Errorf("server %+v stamped before client %+v: want it linked", s, c)
	}
	// A server request whose client is on no node here is a new trace.
	if s := placed(l, true, "", 5); s.ParentSpanID.IsValid() || !s.TraceID.IsValid() {
		t.Errorf("unlinked server %+v: want a new trace", s)
	}
	// A traceparent wins on both sides.
	c := placed(l, false, someTraceparent, 6)
	s := placed(l, true, someTraceparent, 7)
	for _, d := range []events.HTTP{c, s} {
		if d.TraceID.String() != someTraceID || d.ParentSpanID.String() != someParentID {
			t.Errorf("%+v: want a child of the traceparent's span", d)
		}
	}
	// A client span waits linkTTLNs at most.
	placed(l, false, "", 10)
	if s := placed(l, true, "", 11+linkTTLNs); s.ParentSpanID.IsValid() {
		t.Errorf("server %+v linked to a client span older than linkTTLNs", s)
	}
	if l.pending.Len() != 0 {
		t.Errorf("%d connections still wait", l.pending.Len())
	}
}

// TLS requests have no addresses: a server's is not linked to another
// connection's client, nor kept waiting.
func TestSpanLinksNeedAddresses(t *testing.T) {
	l := newSpanLinker(DefaultConfig())
	var c, s events.HTTP
	l.place(&c, nil, false, netip.AddrPort{}, netip.AddrPort{}, 1)
	l.place(&s, nil, true, netip.AddrPort{}, netip.AddrPort{}, 2)
	if s.ParentSpanID.IsValid() || s.TraceID == c.TraceID || l.pending.Len() != 0 {
		t.Errorf("server %+v, client %+v, %d waiting: want unlinked", s, c, l.pending.Len())
	}
}

func TestSpanLinksBounded(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxLinks, cfg.MaxPipelined = 2, 3
	l := newSpanLinker(cfg)
	var d events.HTTP
	for port := range uint16(5) {
		for range 5 {
			l.place(&d, nil, false, netip.AddrPortFrom(clientEnd.Addr(), 40000+port), serverEnd, 1)
		}
	}
	if l.pending.Len() != 2 {
		t.Errorf("%d connections wait, want MaxLinks 2", l.pending.Len())
	}
	l.pending.All(func(_ connEnds, p *pendingSpans) bool {
		if len(p.spans) != 3 {
			t.Errorf("%d spans of a connection wait, want MaxPipelined 3", len(p.spans))
		}
		return true
	})
}

// The traceparent of a request the tracker sees reaches its event.
func TestTraceparentInEvents(t *testing.T) {
	c := newConversation(t, DefaultConfig())
	var got []transaction
	send := func(egress bool, payload string) {
		c.ns += 1000
		d := direction(egress)
		src, dst := clientEnd, serverEnd // a request received
		if egress {
			src, dst = dst, src
		}
		got = append(got, c.tr.packet(&packet{bootNs: c.ns, cgroup: 1, cookie: 7, egress: egress, heard: true,
			src: src, dst: dst, seq: c.seq[d], length: len(payload), data: []byte(payload)})...)
		c.seq[d] += uint32(len(payload))
	}
	send(false, "GET /a HTTP/1.1\r\nHost: x\r\nTraceParent: "+someTraceparent+"\r\n\r\n")
	send(true, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
	if len(got) != 1 {
		t.Fatalf("%d requests, want 1", len(got))
	}
	d := got[0].http
	if hex.EncodeToString(d.TraceID[:]) != someTraceID || d.ParentSpanID.String() != someParentID || !d.SpanID.IsValid() {
		t.Errorf("event %+v: want a child of the traceparent's span", d)
	}
	if d.Local != serverEnd || d.Peer != clientEnd {
		t.Errorf("event local %v peer %v, want %v %v", d.Local, d.Peer, serverEnd, clientEnd)
	}
}

// A client that sent to a Service's address and the server NAT sent its
// connection to see different ends: linked through the translation, asked
// of conntrack once per connection; a translation elsewhere links nothing.
func TestSpanLinksThroughNAT(t *testing.T) {
	client := netip.MustParseAddrPort("10.1.0.5:41000")
	service := netip.MustParseAddrPort("10.96.0.10:80")
	endpoint := netip.MustParseAddrPort("10.1.0.9:8080")
	l := newSpanLinker(DefaultConfig())
	lookups := 0
	l.translate = func(c, s netip.AddrPort) netip.AddrPort {
		lookups++
		if c == client && s == service {
			return endpoint
		}
		return netip.AddrPort{}
	}
	at := func(server bool, src, dst netip.AddrPort, ns uint64) events.HTTP {
		var d events.HTTP
		l.place(&d, nil, server, src, dst, ns)
		return d
	}
	c1, c2 := at(false, client, service, 1), at(false, client, service, 2)
	s1, s2 := at(true, client, endpoint, 3), at(true, client, endpoint, 4)
	for _, p := range [][2]events.HTTP{{c1, s1}, {c2, s2}} {
		if c, s := p[0], p[1]; s.TraceID != c.TraceID || s.ParentSpanID != c.SpanID {
			t.Errorf("server %+v, client %+v: want the server a child of the client", s, c)
		}
	}
	if lookups != 1 {
		t.Errorf("%d conntrack lookups for one connection, want 1", lookups)
	}
	// The same client end, translated to another server: not this one's.
	at(false, client, service, 10)
	if s := at(true, client, netip.MustParseAddrPort("10.1.0.7:8080"), 11); s.ParentSpanID.IsValid() {
		t.Errorf("server %+v linked to a client NAT sent elsewhere", s)
	}
}

// One client port connected to two Services at once (Linux shares an
// ephemeral port across destinations), one of them translated to an
// endpoint on another node: the server here claims the span of the
// connection NAT sent to it, not the other one's; and after the port is
// reused for a third Service sent to the same endpoint, that one's.
func TestSpanLinksThroughNATSharedPort(t *testing.T) {
	client := netip.MustParseAddrPort("10.1.0.5:41000")
	elsewhere, here, later := netip.MustParseAddrPort("10.96.0.1:80"), netip.MustParseAddrPort("10.96.0.2:80"), netip.MustParseAddrPort("10.96.0.3:80")
	endpoint := netip.MustParseAddrPort("10.1.0.9:8080")
	l := newSpanLinker(DefaultConfig())
	l.translate = func(c, s netip.AddrPort) netip.AddrPort {
		switch s {
		case elsewhere:
			return netip.MustParseAddrPort("10.2.0.4:8080")
		case here, later:
			return endpoint
		}
		return netip.AddrPort{}
	}
	at := func(server bool, dst netip.AddrPort, ns uint64) events.HTTP {
		var d events.HTTP
		src := client
		l.place(&d, nil, server, src, dst, ns)
		return d
	}
	c := at(false, here, 1)
	other := at(false, elsewhere, 2)
	if s := at(true, endpoint, 3); s.ParentSpanID != c.SpanID {
		t.Errorf("server %s: parent %s, want the span sent to it %s (not %s)", s.SpanID, s.ParentSpanID, c.SpanID, other.SpanID)
	}
	c3 := at(false, later, 4)
	if s := at(true, endpoint, 5); s.ParentSpanID != c3.SpanID {
		t.Errorf("server after port reuse: parent %s, want %s", s.ParentSpanID, c3.SpanID)
	}
}
