package http

import (
	"bytes"
	"net/netip"
	"testing"
)

// conversation feeds a tracker the segments of one socket end, each in
// order, and returns its counts of cgroup 1.
type conversation struct {
	t   *testing.T
	tr  *tracker
	seq [2]uint32 // next sequence number by direction (egress, ingress)
	ns  uint64
}

func newConversation(t *testing.T, cfg Config) *conversation {
	return &conversation{t: t, tr: newTracker(cfg), seq: [2]uint32{1000, 5000}}
}

// send passes one segment; captured < 0 captures all of it.
func (c *conversation) send(egress bool, payload string, captured int, continuation bool) {
	c.ns += 1000
	d := direction(egress)
	data := []byte(payload)
	if captured >= 0 {
		data = data[:captured]
	}
	c.tr.packet(&packet{bootNs: c.ns, cgroup: 1, cookie: 7, egress: egress, continuation: continuation,
		seq: c.seq[d], length: len(payload), data: data})
	c.seq[d] += uint32(len(payload))
}

// want checks the counts of cgroup 1 and the drops.
func (c *conversation) want(requests map[requestKey]uint64, dropped map[int]uint64) {
	c.t.Helper()
	stats, drops := c.tr.snapshot()
	got := map[requestKey]uint64{}
	var histCount uint64
	if ws := stats[1]; ws != nil {
		got = ws.requests
		for i := range ws.duration {
			for _, n := range ws.duration[i].Slots {
				histCount += n
			}
		}
	}
	var total uint64
	for k, n := range requests {
		total += n
		if got[k] != n {
			c.t.Errorf("requests %+v = %d, want %d (all: %v)", k, got[k], n, got)
		}
	}
	if len(got) != len(requests) {
		c.t.Errorf("requests %v, want %v", got, requests)
	}
	if histCount != total {
		c.t.Errorf("durations counted %d, want %d", histCount, total)
	}
	for reason := range numDropReasons {
		if drops[reason] != dropped[reason] {
			c.t.Errorf("dropped %s = %d, want %d", dropReasonNames[reason], drops[reason], dropped[reason])
		}
	}
}

const (
	getReq  = "GET / HTTP/1.1\r\nHost: a\r\n\r\n"
	headReq = "HEAD / HTTP/1.1\r\nHost: a\r\n\r\n"
	ok2     = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
)

func TestPipelinedInOneSegment(t *testing.T) {
	c := newConversation(t, DefaultConfig())
	c.send(false, getReq+headReq+"POST /p HTTP/1.1\r\nContent-Length: 4\r\n\r\nGET "+getReq, -1, false)
	// The HEAD's response has a Content-Length but no body.
	c.send(true, ok2+"HTTP/1.1 200 OK\r\nContent-Length: 99\r\n\r\n"+"HTTP/1.1 201 Created\r\nContent-Length: 0\r\n\r\n"+
		"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n", -1, false)
	c.want(map[requestKey]uint64{
		{server: true, method: "GET", status: 200}:  1,
		{server: true, method: "HEAD", status: 200}: 1,
		{server: true, method: "POST", status: 201}: 1,
		{server: true, method: "GET", status: 304}:  1,
	}, nil)
}

func TestHeadSplitOverSegments(t *testing.T) {
	c := newConversation(t, DefaultConfig())
	c.send(true, "GET /long HTTP/1.1\r\n", -1, false)
	c.send(true, "Host: a\r\n", -1, true)
	c.send(true, "Accept: */*\r\n\r\n", -1, true)
	c.send(false, "HTTP/1.1 200 OK\r\nTransfer-", -1, false)
	c.send(false, "Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", -1, true)
	c.send(true, getReq, -1, false)
	// A chunk that looks like a head: the chunked body's framing is not
	// followed, so the next head is taken where a segment starts one.
	c.send(false, "HTTP/1.1 500 Oops\r\nContent-Length: 0\r\n\r\n", -1, false)
	c.want(map[requestKey]uint64{{method: "GET", status: 200}: 1, {method: "GET", status: 500}: 1}, nil)
}

func TestBodyThatLooksLikeAHead(t *testing.T) {
	c := newConversation(t, DefaultConfig())
	c.send(false, "POST / HTTP/1.1\r\nContent-Length: 38\r\n\r\n", -1, false)
	c.send(false, getReq+"GET /x", -1, false) // 38 bytes of body
	c.send(true, "HTTP/1.1 404 Not Found\r\nContent-Length: 27\r\n\r\n", -1, false)
	c.send(true, "HTTP/1.1 200 OK\r\n\r\nabcdefgh", -1, false) // the body again
	c.want(map[requestKey]uint64{{server: true, method: "POST", status: 404}: 1}, nil)
}

func TestTruncatedAndMalformed(t *testing.T) {
	c := newConversation(t, DefaultConfig())
	c.send(true, "GET /big HTTP/1.1\r\nCookie: xxxxxxxxxxxxxxxxxxxxx\r\n\r\n", 30, false)
	c.send(false, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", -1, false)
	c.send(true, "HELLO there\r\n\r\n", -1, false)
	c.send(false, ok2, -1, false) // no request waits
	c.want(map[requestKey]uint64{{method: "GET", status: 200}: 1},
		map[int]uint64{dropTruncated: 1, dropMalformed: 1, dropUnmatched: 1})
}

func TestBounds(t *testing.T) {
	cfg := DefaultConfig()
	cfg.MaxPipelined, cfg.MaxConnections = 2, 1
	c := newConversation(t, cfg)
	c.send(true, getReq+getReq+getReq, -1, false)
	c.send(false, ok2+ok2, -1, false)
	c.send(true, getReq, -1, false)
	// Another socket takes the only slot: the waiting request is dropped.
	c.tr.packet(&packet{cgroup: 1, cookie: 8, egress: true, data: []byte(getReq), length: len(getReq)})
	c.want(map[requestKey]uint64{{method: "GET", status: 200}: 2},
		map[int]uint64{dropPipelineFull: 1, dropEvicted: 1})
}

func TestUpgradeEndsHTTP1(t *testing.T) {
	c := newConversation(t, DefaultConfig())
	c.send(true, "GET /ws HTTP/1.1\r\nUpgrade: websocket\r\n\r\n", -1, false)
	c.send(false, "HTTP/1.1 101 Switching Protocols\r\n\r\n", -1, false)
	c.send(true, getReq, -1, false)
	c.send(false, ok2, -1, false)
	c.want(map[requestKey]uint64{{method: "GET", status: 101}: 1}, nil)
}

// FuzzTracker feeds a tracker segments cut from the input at every 0xff
// byte, alternating direction by each segment's first byte, and checks
// that it neither panics nor exceeds its bounds.
func FuzzTracker(f *testing.F) {
	f.Add([]byte(getReq + "\xff" + ok2 + "\xff" + headReq + "\xff" + "HTTP/1.1 200 OK\r\nContent-Length: 9\r\n\r\n"))
	f.Add([]byte("GET /a HTTP/1.1\r\n\xffHost: a\r\n\r\n\xffHTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 204 No\r\n\r\n"))
	f.Add([]byte("POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\nGET\xffHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Fuzz(func(t *testing.T, b []byte) {
		cfg := Config{MaxConnections: 2, MaxPipelined: 3, MaxHeadBytes: 64, MaxWorkloads: 1, MaxLinks: 2}
		tr := newTracker(cfg)
		var seq [2]uint32
		for i, seg := range bytes.Split(b, []byte{0xff}) {
			egress := len(seg) > 0 && seg[0]&1 == 0
			d := direction(egress)
			ends := [2]netip.AddrPort{netip.AddrPortFrom(netip.IPv4Unspecified(), uint16(i%4)), netip.AddrPortFrom(netip.IPv4Unspecified(), 80)}
			tr.packet(&packet{bootNs: uint64(i), cgroup: uint64(i % 3), cookie: uint64(i % 4), egress: egress,
				continuation: i%2 == 1, seq: seq[d], length: len(seg), data: seg[:min(len(seg), 48)],
				src: ends[d], dst: ends[1-d], heard: i%5 != 0})
			seq[d] += uint32(len(seg))
		}
		for _, c := range tr.conns.All {
			if len(c.waiting) > cfg.MaxPipelined {
				t.Fatalf("%d requests waiting, bound %d", len(c.waiting), cfg.MaxPipelined)
			}
			for _, s := range c.streams {
				if len(s.partial) > cfg.MaxHeadBytes {
					t.Fatalf("partial head of %d bytes, bound %d", len(s.partial), cfg.MaxHeadBytes)
				}
			}
		}
		if n := tr.spans.pending.Len(); n > cfg.MaxLinks {
			t.Fatalf("%d connections wait for a link, bound %d", n, cfg.MaxLinks)
		}
		if len(tr.stats) > cfg.MaxWorkloads {
			t.Fatalf("%d workloads, bound %d", len(tr.stats), cfg.MaxWorkloads)
		}
	})
}

// resend passes the last segment of a direction again, as TCP retransmits
// it (cgroup_skb ingress runs before TCP drops the duplicate).
func (c *conversation) resend(egress bool, payload string) {
	d := direction(egress)
	c.tr.packet(&packet{bootNs: c.ns, cgroup: 1, cookie: 7, egress: egress,
		seq: c.seq[d] - uint32(len(payload)), length: len(payload), data: []byte(payload)})
}

func TestRetransmittedHeadCountsOnce(t *testing.T) {
	c := newConversation(t, DefaultConfig())
	c.send(false, getReq, -1, false)
	c.resend(false, getReq)
	c.send(true, ok2, -1, false)
	c.resend(true, ok2)
	c.send(false, headReq, -1, false)
	c.send(true, "HTTP/1.1 404 Not Found\r\nContent-Length: 3\r\n\r\n", -1, false)
	// Without the check the second GET waits first, so the HEAD would be
	// answered 404 as a GET, and one request would be left unmatched.
	c.want(map[requestKey]uint64{{server: true, method: "GET", status: 200}: 1, {server: true, method: "HEAD", status: 404}: 1}, nil)
}

func TestRequestDetailPath(t *testing.T) {
	for target, want := range map[string]string{
		"/a/b?token=secret":                  "/a/b",
		"http://user:pass@proxy.example/p?q": "/p",
		"https://host.example":               "/",
		"*":                                  "*",
		"/caf\xc3":                           "/caf\uFFFD", // a cut or bad UTF-8 sequence
	} {
		h := head{target: []byte(target), token: []byte("GET"), version: '1'}
		if d := requestDetail(&h, &packet{tls: true}); d.Path != want || !d.TLS {
			t.Errorf("target %q: path %q, TLS %v; want %q, true", target, d.Path, d.TLS, want)
		}
	}
}
