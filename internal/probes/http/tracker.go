package http

import (
	"bytes"
	"maps"
	"math/bits"
	"net/netip"
	"slices"
	"sync"
	"time"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/lru"
	"github.com/orb8/orb8/internal/series"
)

// Config bounds the probe's user-space state.
type Config struct {
	// MaxConnections bounds the socket ends followed; when full the least
	// recently active is forgotten (its waiting requests are counted as
	// dropped, reason evicted).
	MaxConnections int
	// MaxPipelined bounds the requests of one connection awaiting their
	// responses; a request past it is dropped (reason pipeline_full).
	MaxPipelined int
	// MaxHeadBytes bounds a head collected from several packets; a longer
	// one is counted from its start line (reason truncated).
	MaxHeadBytes int
	// MaxWorkloads bounds the cgroups counted (like ORB8_MAX_CGROUPS).
	MaxWorkloads int
	// MaxLinks bounds the connections whose client requests wait for the
	// server request they cause on this node (to link their spans); when
	// full the least recently used is forgotten, its server spans unlinked.
	MaxLinks int
	// MaxNotableWorkloads bounds the workloads whose slowest and failing
	// recent requests are kept (NotableRequests).
	MaxNotableWorkloads int
	// MaxH2Connections bounds the HTTP/2 connection ends followed, each
	// with two HPACK tables; when full the least recently active is
	// forgotten (its waiting streams counted as dropped, reason evicted).
	MaxH2Connections int
	// H2StreamTimeout is how long an HTTP/2 stream waits for its response
	// (a gRPC call for its grpc-status) before it is given up (reason
	// h2_stream_timeout), at the next sweep (h2SweepEvery).
	H2StreamTimeout time.Duration
}

// DefaultConfig is what the agent runs with.
func DefaultConfig() Config {
	return Config{MaxConnections: 16384, MaxPipelined: 32, MaxHeadBytes: 4096, MaxWorkloads: 16384, MaxLinks: 4096, MaxNotableWorkloads: DefaultMaxNotableWorkloads,
		MaxH2Connections: 4096, H2StreamTimeout: 5 * time.Minute}
}

// packet is one captured segment of a socket.
type packet struct {
	bootNs       uint64
	cgroup       uint64
	cookie       uint64 // the socket's: one end of a connection
	egress       bool   // sent by the socket, else received
	continuation bool   // the next bytes of the head the last packet began
	src, dst     netip.AddrPort
	seq          uint32 // TCP sequence number of data[0] (TLS: the byte offset)
	tls          bool   // plaintext of an SSL_read or SSL_write, no addresses
	h2           bool   // data holds HTTP/2 items (h2.bpf.h), not payload
	length       int    // TCP payload bytes of the packet, at least len(data)
	data         []byte // the captured first bytes of the payload
	// heard: someone listens for http events, so finished requests are
	// returned with their details (else only counted).
	heard bool
	// kernel is a request the kernel followed (h1.bpf.h): handed over
	// with its connection (handOver), else matched, counted and notable.
	kernel   *httpH1Request
	handOver bool
}

// transaction is a finished request, returned while events are heard.
type transaction struct {
	cgroup uint64
	bootNs uint64 // the request's first byte
	http   events.HTTP
}

// Reasons a message or request is not fully accounted for.
const (
	dropMalformed       = iota // a packet that starts like a head but is none
	dropTruncated              // a head longer than what was captured: counted, framing lost
	dropUnmatched              // a response without a waiting request
	dropPipelineFull           // a request past MaxPipelined
	dropEvicted                // waiting requests of a connection forgotten for room
	dropWorkloadsFull          // a workload past MaxWorkloads
	dropNotableEvicted         // notable requests of a workload forgotten for room
	dropH2Lost                 // an HTTP/2 connection no longer followed: a gap, or a header block not decoded
	dropH2StreamsLost          // requests waiting on a connection when it was lost
	dropH2Reset                // HTTP/2 streams reset before their response ended
	dropStreamsFull            // a waiting HTTP/2 stream that gave way to a new one past h2MaxStreams
	dropH2NoPreface            // an HTTP/2 header list on a connection whose client preface was not seen
	dropH2StreamTimeout        // an HTTP/2 stream that waited longer than H2StreamTimeout
	numDropReasons
)

var dropReasonNames = [numDropReasons]string{"malformed", "truncated", "unmatched", "pipeline_full", "evicted", "workloads_full", "notable_evicted",
	"h2_lost", "h2_streams_lost", "h2_reset", "streams_full", "h2_no_preface", "h2_stream_timeout"}

// request is one awaiting its response.
type request struct {
	method string
	bootNs uint64 // its first byte
	server bool   // received by the socket: the workload serves it
	// detail is the event's start, kept only while events are heard.
	detail *events.HTTP
	head   headSpan // its method and path, for a notable request's detail
}

// stream is one direction of a socket end.
type stream struct {
	// partial is a head whose end has not been seen yet, which begins at
	// sequence number partialSeq and continues at partialNext.
	partial                 []byte
	partialNs               uint64
	partialSeq, partialNext uint32
	// inBody: bytes before bodyEnd are a body, even if they look like a head.
	inBody  bool
	bodyEnd uint32
	// unframed: the last message's body ends where nothing says (chunked,
	// or until the connection closes).
	unframed bool
	// next is the sequence number after the last head packet accounted
	// for (once accounted): one before it is a TCP retransmission.
	accounted bool
	next      uint32
}

type conn struct {
	cgroup   uint64
	waiting  []request // FIFO: HTTP/1.x answers in order
	streams  [2]stream // by direction: egress, ingress
	upgraded bool      // after a 101: no longer HTTP/1.x
	// handedOver: the kernel followed the connection until it gave it
	// here; it is offered back whenever nothing waits (giveBackLocked).
	handedOver bool
	// owed: a request was dropped, so responses are owed to none here.
	owed  bool
	heads []byte // methods and paths of the waiting requests (keepHead)
}

// grpcKey labels a gRPC call's count.
type grpcKey struct {
	server bool
	status int // 0..maxGRPCStatus
}

type requestKey struct {
	server bool
	method string
	status int
}

// workloadStats are one cgroup's counts: every label value is bounded
// (methodLabel, a status of 100..599).
type workloadStats struct {
	requests map[requestKey]uint64
	duration [2]series.Log2Hist // client, server
	grpc     map[grpcKey]uint64
	grpcDur  [2]series.Log2Hist // client, server
}

func newWorkloadStats() *workloadStats {
	return &workloadStats{requests: map[requestKey]uint64{}, grpc: map[grpcKey]uint64{}}
}

func (ws *workloadStats) add(src *workloadStats) {
	for k, v := range src.requests {
		ws.requests[k] += v
	}
	for k, v := range src.grpc {
		ws.grpc[k] += v
	}
	for i := range ws.duration {
		ws.duration[i].Add(&src.duration[i])
		ws.grpcDur[i].Add(&src.grpcDur[i])
	}
}

// tracker parses heads, matches responses to requests per connection and
// counts them per workload. Safe for concurrent use.
type tracker struct {
	cfg     Config
	mu      sync.Mutex
	done    []transaction            // finished requests of the packet at hand, when heard
	conns   *lru.Table[uint64, conn] // by socket cookie
	h2conns *lru.Table[uint64, *h2conn]
	stats   map[uint64]*workloadStats
	dropped [numDropReasons]uint64
	spans   *spanLinker
	notable *lru.Table[uint64, notable] // by cgroup
	// notableBuilt counts the details built for notable requests.
	notableBuilt uint64
	// giveBack offers the kernel a connection it handed over, at the
	// request that would start at seq in direction dir.
	giveBack func(cookie uint64, dir int, seq uint32)
	// slowest is told the latency a request of cgroup must pass to make
	// its slow list in window, once the list is full (forget: the
	// workload's lists are gone).
	slowest func(cgroup, window, latencyNs uint64, forget bool)
}

func newTracker(cfg Config) *tracker {
	return &tracker{cfg: cfg, conns: lru.New[uint64, conn](cfg.MaxConnections), h2conns: lru.New[uint64, *h2conn](cfg.MaxH2Connections), stats: map[uint64]*workloadStats{}, spans: newSpanLinker(cfg),
		notable: lru.New[uint64, notable](cfg.MaxNotableWorkloads), slowest: func(uint64, uint64, uint64, bool) {}, giveBack: func(uint64, int, uint32) {}}
}

// packet accounts for p and returns the requests it finished, while
// events are heard (p.heard): the caller's own (the TCP and TLS rings
// have a reader each).
func (t *tracker) packet(p *packet) []transaction {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.done = t.done[:0]
	t.packetLocked(p)
	if len(t.done) == 0 {
		return nil
	}
	return slices.Clone(t.done)
}

func (t *tracker) packetLocked(p *packet) {
	switch {
	case p.h2:
		t.h2Locked(p)
		return
	case p.kernel != nil && p.handOver:
		t.handOverLocked(p, p.kernel)
		return
	case p.kernel != nil:
		t.kernelDoneLocked(p, p.kernel)
		return
	}
	c := t.connLocked(p)
	if c.upgraded {
		return
	}
	s := &c.streams[direction(p.egress)]
	if p.continuation {
		if s.partial == nil || p.seq != s.partialNext {
			return // the head it continues was dealt with already
		}
		if len(s.partial)+len(p.data) > t.cfg.MaxHeadBytes || len(p.data) < p.length {
			t.truncatedLocked(c, s.partial, p, s.partialNs)
			s.partial = nil
			return
		}
		s.partial = append(s.partial, p.data...)
		s.partialNext += uint32(p.length)
		data, seq, ns := s.partial, s.partialSeq, s.partialNs
		s.partial = nil
		t.messagesLocked(c, s, p, data, seq, len(data), ns)
		return
	}
	if !p.tls && s.accounted && int32(p.seq-s.next) < 0 {
		return // a retransmission, seen before (ingress runs before TCP's checks)
	}
	s.accounted, s.next = true, p.seq+uint32(p.length)
	if s.inBody && int32(p.seq-s.bodyEnd) < 0 {
		return // a body that starts like a head
	}
	if s.partial != nil { // a head that never ended
		t.truncatedLocked(c, s.partial, p, s.partialNs)
		s.partial = nil
	}
	t.messagesLocked(c, s, p, p.data, p.seq, p.length, p.bootNs)
}

// connLocked is the socket end of p, made most recently used; a new one
// may take the place of the least recently used (its waiting requests
// counted as evicted).
func (t *tracker) connLocked(p *packet) *conn {
	if c, ok := t.conns.Get(p.cookie); ok {
		t.conns.Touch(p.cookie)
		return c
	}
	if _, old, evicted := t.conns.Put(p.cookie, conn{cgroup: p.cgroup}); evicted {
		t.dropped[dropEvicted] += uint64(len(old.waiting))
	}
	c, _ := t.conns.Get(p.cookie)
	return c
}

func direction(egress bool) int {
	if egress {
		return 0
	}
	return 1
}

// messagesLocked accounts for the heads in data, the first total bytes of a
// stream from sequence number seq on (data may hold fewer: the capture
// limit), the first of them starting at data[0].
func (t *tracker) messagesLocked(c *conn, s *stream, p *packet, data []byte, seq uint32, total int, ns uint64) {
	s.inBody = false
	for off := 0; off < len(data) && !c.upgraded; {
		h, err := parseHead(data[off:])
		switch {
		case err == errIncomplete && len(data) == total && len(data)-off < t.cfg.MaxHeadBytes:
			// The head goes on in the next packet.
			s.partial = append(s.partial[:0], data[off:]...)
			s.partialNs, s.partialSeq, s.partialNext = ns, seq+uint32(off), seq+uint32(total)
			return
		case err == errIncomplete:
			t.truncatedLocked(c, data[off:], p, ns)
			return
		case err != nil:
			t.dropped[dropMalformed]++
			return
		}
		body := t.accountLocked(c, &h, p, ns)
		s.unframed = body < 0
		if body < 0 {
			return // framing unknown: the next packet that starts a head starts one
		}
		off += h.size
		if int64(len(data)-off) < body {
			s.inBody, s.bodyEnd = true, seq+uint32(int64(off)+body)
			return
		}
		off += int(body)
	}
}

// truncatedLocked counts a head of which only the start was seen, if its
// start line was.
func (t *tracker) truncatedLocked(c *conn, data []byte, p *packet, ns uint64) {
	h, err := parseHead(data)
	if err != errIncomplete || (!h.request && h.status == 0) {
		t.dropped[dropMalformed]++
		return
	}
	t.dropped[dropTruncated]++
	t.accountLocked(c, &h, p, ns)
}

// accountLocked counts a head and returns the length of the body behind it,
// -1 when unknown (chunked, or until the connection closes).
func (t *tracker) accountLocked(c *conn, h *head, p *packet, ns uint64) int64 {
	egress := p.egress
	if h.request {
		if len(c.waiting) >= t.cfg.MaxPipelined {
			t.dropped[dropPipelineFull]++
			c.owed = true
		} else {
			req := request{method: h.method, bootNs: ns, server: !egress}
			c.keepHead(&req, h)
			if p.heard {
				req.detail = requestDetail(h, p)
				t.spans.place(req.detail, h.traceparent, req.server, p.src, p.dst, ns)
			}
			c.waiting = append(c.waiting, req)
		}
		switch {
		case h.chunked:
			return -1
		case h.bodyLength >= 0:
			return h.bodyLength
		}
		return 0
	}
	if h.status < 200 && h.status != 101 {
		return 0 // interim: the final response follows
	}
	// The response goes the other way than its request.
	if len(c.waiting) == 0 || c.waiting[0].server != egress {
		t.dropped[dropUnmatched]++
		return -1
	}
	req := c.waiting[0]
	c.waiting = slices.Delete(c.waiting, 0, 1)
	t.countLocked(c.cgroup, &req, h.status, ns)
	t.notableLocked(c, &req, h.status, p, ns)
	if req.detail != nil {
		req.detail.Status, req.detail.Latency = h.status, time.Duration(ns-req.bootNs)
		t.done = append(t.done, transaction{cgroup: c.cgroup, bootNs: req.bootNs, http: *req.detail})
	}
	if h.status != 101 {
		t.giveBackLocked(c, p)
	}
	switch {
	case h.status == 101:
		c.upgraded = true
		return -1
	case !responseBody(req.method, h.status):
		return 0
	case h.chunked:
		return -1
	}
	return h.bodyLength
}

// requestDetail is the event of a request the socket of p sent or received.
func requestDetail(h *head, p *packet) *events.HTTP {
	path, truncated := h.path()
	d := detail(h.token, path, truncated, h.version, !p.egress, 0, p)
	return &d
}

// detail is the event of a request with method token and path (cut:
// truncated) over HTTP/1.version, that the socket of p served (server) or
// sent, answered with status (0: not yet).
func detail(token, path []byte, truncated bool, version byte, server bool, status int, p *packet) events.HTTP {
	d := events.HTTP{
		Direction:     directionLabels[serverIndex(server)],
		Method:        string(token),
		Path:          validPath(path),
		PathTruncated: truncated,
		Status:        status,
		Protocol:      "HTTP/1." + string(version),
		TLS:           p.tls,
	}
	d.Peer, d.Local = ends(p)
	return d
}

// cutQuery is a request target without its query string.
func cutQuery(target []byte) []byte {
	path, _, _ := bytes.Cut(target, []byte("?"))
	return path
}

// originPath is the path of a request target: a proxy's absolute form
// (http://user:pass@host/p) loses its scheme and authority, credentials
// included.
func originPath(target []byte) []byte {
	_, rest, ok := bytes.Cut(target, []byte("://"))
	if !ok || bytes.HasPrefix(target, []byte("/")) {
		return target
	}
	if i := bytes.IndexByte(rest, '/'); i >= 0 {
		return rest[i:]
	}
	return []byte("/")
}

func (t *tracker) countLocked(cgroup uint64, req *request, status int, ns uint64) {
	if ws := t.workloadLocked(cgroup); ws != nil {
		ws.requests[requestKey{server: req.server, method: req.method, status: status}]++
		observe(&ws.duration[serverIndex(req.server)], ns-req.bootNs)
	}
}

// countGRPCLocked counts a gRPC call that ended with status, latency
// from its request's first HEADERS to its response's.
func (t *tracker) countGRPCLocked(cgroup uint64, server bool, status int, latency uint64) {
	if ws := t.workloadLocked(cgroup); ws != nil {
		ws.grpc[grpcKey{server: server, status: status}]++
		observe(&ws.grpcDur[serverIndex(server)], latency)
	}
}

// workloadLocked is the counts of cgroup, nil when MaxWorkloads are
// counted already (counted as dropped).
func (t *tracker) workloadLocked(cgroup uint64) *workloadStats {
	ws := t.stats[cgroup]
	if ws == nil {
		if len(t.stats) >= t.cfg.MaxWorkloads {
			t.dropped[dropWorkloadsFull]++
			return nil
		}
		ws = newWorkloadStats()
		t.stats[cgroup] = ws
	}
	return ws
}

func serverIndex(server bool) int {
	if server {
		return 1
	}
	return 0
}

// observe adds ns to h the way orb8_hist_add does in the kernel.
func observe(h *series.Log2Hist, ns uint64) {
	if int64(ns) < 0 { // clocks of two CPUs: never negative
		ns = 0
	}
	slot := 0
	if us := ns / 1000; us > 0 {
		slot = min(bits.Len64(us)-1, series.Log2Slots-1)
	}
	h.Slots[slot]++
	h.SumNs += ns
}

// snapshot copies the counts for a scrape.
func (t *tracker) snapshot() (map[uint64]*workloadStats, [numDropReasons]uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	out := make(map[uint64]*workloadStats, len(t.stats))
	for id, ws := range t.stats {
		cp := &workloadStats{requests: maps.Clone(ws.requests), duration: ws.duration, grpc: maps.Clone(ws.grpc), grpcDur: ws.grpcDur}
		out[id] = cp
	}
	return out, t.dropped
}

// forget drops the counts of cgroups that are gone.
func (t *tracker) forget(ids []uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	for _, id := range ids {
		delete(t.stats, id)
		t.notable.Delete(id)
	}
}
