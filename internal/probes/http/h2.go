package http

import (
	"encoding/binary"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/lru"
)

// HTTP/2 (RFC 9113) on plaintext connections, from the items h2.bpf.h
// sends: each direction of a connection from its first frame on, its
// header blocks decoded with that direction's HPACK state (RFC 7541), and
// each stream's request matched to its response. gRPC calls are streams
// whose request's content-type is application/grpc*, ended by the
// grpc-status of their trailers; a response's END_STREAM (on its HEADERS
// or, from the kernel in the server's direction, a DATA frame) ends a call
// that had none.

// Item tags of a SEG_H2 record, as enum h2_item in h2.bpf.h.
const (
	h2ItemStart = 0
	h2ItemFrame = 1
	h2ItemBlock = 2
	h2ItemLost  = 3
)

// Frame types and flags (RFC 9113 6).
const (
	h2FrameData         = 0
	h2FrameHeaders      = 1
	h2FrameRSTStream    = 3
	h2FramePushPromise  = 5
	h2FrameContinuation = 9

	h2FlagEndStream  = 0x1
	h2FlagEndHeaders = 0x4
	h2FlagPadded     = 0x8
	h2FlagPriority   = 0x20
)

const (
	// h2MaxTable bounds a direction's HPACK dynamic table: the peers'
	// default is 4096 bytes; a connection whose encoder goes past this
	// bound is lost.
	h2MaxTable = 16 << 10
	// h2MaxStreams bounds the streams of a connection awaiting their
	// responses: past it the oldest gives way (reason streams_full), so
	// that new streams are still followed.
	h2MaxStreams = 256
)

// h2fields are the fields of a header list that counting, events and
// spans need; nothing else is kept.
type h2fields struct {
	method, path, traceparent string
	status                    int // :status, 0 without
	grpc                      bool
	grpcStatus                int // -1 without
}

func (f *h2fields) add(hf hpack.HeaderField) {
	switch hf.Name {
	case ":method":
		f.method = hf.Value
	case ":path":
		f.path = hf.Value
	case ":status":
		if n, err := strconv.Atoi(hf.Value); err == nil && n >= 100 && n <= 599 {
			f.status = n
		}
	case "content-type":
		f.grpc = isGRPC(hf.Value)
	case "grpc-status":
		if n, err := strconv.Atoi(hf.Value); err == nil && n >= 0 && n <= maxGRPCStatus {
			f.grpcStatus = n
		}
	case "traceparent":
		f.traceparent = hf.Value
	}
}

// isGRPC: the content type of gRPC, application/grpc alone or with a
// +format or ;parameters; not gRPC-Web (application/grpc-web*), whose
// trailers travel in the body.
func isGRPC(contentType string) bool {
	rest, ok := strings.CutPrefix(contentType, "application/grpc")
	return ok && (rest == "" || rest[0] == '+' || rest[0] == ';')
}

// maxGRPCStatus is the highest gRPC status code (UNAUTHENTICATED); a
// grpc-status past it is malformed.
const maxGRPCStatus = 16

// h2direction is what one direction of a connection is at: its HPACK
// state, the frame whose payload is arriving and the header block being
// collected.
type h2direction struct {
	dec    *hpack.Decoder // nil: not followed
	fields h2fields       // of the header block being decoded
	// The frame whose payload arrives in BLOCK items.
	frameType, frameFlags byte
	frameStream           uint32
	frameLen              int
	payload               []byte
	// The header block being collected from HEADERS and CONTINUATION
	// frames, the stream it is on and when its first frame was seen.
	block       []byte
	blockStream uint32
	blockOpen   bool
	blockPush   bool // a PUSH_PROMISE's: decoded for the state, not counted
	blockEnd    bool // its HEADERS frame ends the stream (END_STREAM)
	blockNs     uint64
}

// h2stream is a request awaiting its response (or, for gRPC, its
// trailers).
type h2stream struct {
	server   bool // received by the socket
	grpc     bool
	bootNs   uint64 // the request's first HEADERS
	method   string
	path     string // without the query string, bounded
	pathCut  bool
	status   int    // the response's, once its HEADERS came
	statusNs uint64 // the response's first HEADERS
	detail   *events.HTTP
}

// h2conn is one followed HTTP/2 connection end.
type h2conn struct {
	dirs [2]h2direction // egress, ingress
	// streams wait for their responses, oldest request first.
	streams *lru.Table[uint32, *h2stream]
	// preface: the client preface was seen, so both directions were
	// followed from the connection's start. A direction that started with
	// a SETTINGS frame alone may be a TLS connection older than its hooks
	// (its offsets counted from the first call seen): its header lists are
	// decoded but not counted until then (reason h2_no_preface).
	preface bool
}

// followed: some direction of the connection is still decoded.
func (c *h2conn) followed() bool { return c.dirs[0].dec != nil || c.dirs[1].dec != nil }

func newH2Conn() *h2conn { return &h2conn{streams: lru.New[uint32, *h2stream](h2MaxStreams)} }

// lose stops following the connection and returns the number of streams
// that waited.
func (c *h2conn) lose() int {
	n := c.streams.Len()
	for i := range c.dirs {
		c.dirs[i] = h2direction{}
	}
	c.streams.ExpireWhile(func(**h2stream) bool { return true }, func(uint32, *h2stream) {})
	return n
}

// h2Locked accounts for the items of one SEG_H2 record.
func (t *tracker) h2Locked(p *packet) {
	var c *h2conn
	cp, ok := t.h2conns.Get(p.cookie)
	if ok {
		c = *cp
		t.h2conns.Touch(p.cookie)
	}
	items := p.data
	for len(items) >= 3 {
		tag, n := items[0], int(binary.LittleEndian.Uint16(items[1:3]))
		items = items[3:]
		switch tag {
		case h2ItemStart:
			if !ok {
				c, ok = newH2Conn(), true
				if _, old, evicted := t.h2conns.Put(p.cookie, c); evicted {
					t.dropped[dropEvicted] += uint64(old.streams.Len())
				}
			}
			d := &c.dirs[direction(p.egress)]
			if d.dec != nil {
				// A direction that starts again: the connection's key
				// (a TLS object) now belongs to a new connection, whose
				// streams and HPACK state share nothing with the old one's.
				t.h2LoseLocked(c)
				c.preface = false
			}
			c.preface = c.preface || n == 1
			*d = h2direction{}
			d.dec = hpack.NewDecoder(4096, d.fields.add)
			d.dec.SetAllowedMaxDynamicTableSize(h2MaxTable)
			d.dec.SetMaxStringLength(t.cfg.MaxHeadBytes)
			continue
		case h2ItemLost:
			if ok {
				t.h2LoseLocked(c)
			}
			continue
		}
		if n > len(items) {
			t.dropped[dropMalformed]++
			if ok {
				t.h2LoseLocked(c) // what the rest held is unknown
			}
			return
		}
		if ok && c.dirs[direction(p.egress)].dec != nil && !t.h2ItemLocked(c, p, tag, items[:n]) {
			t.h2LoseLocked(c)
		}
		items = items[n:]
	}
}

// h2LoseLocked stops following c, counted once however often its
// directions say so.
func (t *tracker) h2LoseLocked(c *h2conn) {
	if c.followed() {
		t.dropped[dropH2Lost]++
	}
	t.dropped[dropH2StreamsLost] += uint64(c.lose())
}

// h2ItemLocked accounts for a frame header or a piece of a frame's payload;
// false when the connection can no longer be followed.
func (t *tracker) h2ItemLocked(c *h2conn, p *packet, tag byte, b []byte) bool {
	d := &c.dirs[direction(p.egress)]
	switch tag {
	case h2ItemFrame:
		if len(b) != 9 || len(d.payload) < d.frameLen {
			return false // a frame before the last one's payload ended
		}
		d.frameLen = int(b[0])<<16 | int(b[1])<<8 | int(b[2])
		d.frameType, d.frameFlags = b[3], b[4]
		d.frameStream = binary.BigEndian.Uint32(b[5:9]) & (1<<31 - 1)
		d.payload = d.payload[:0]
		switch d.frameType {
		case h2FrameRSTStream:
			t.h2ResetLocked(c, d.frameStream)
			d.frameLen = 0
			return true
		case h2FrameData: // sent without its payload when it ends a response
			if d.frameFlags&h2FlagEndStream != 0 {
				t.h2EndLocked(c, p, d.frameStream)
			}
			d.frameLen = 0
			return true
		}
		if d.frameLen > t.cfg.MaxHeadBytes {
			return false // a header block past the bound: its HPACK updates lost
		}
		if d.frameLen == 0 {
			return t.h2FrameLocked(c, d, p)
		}
	case h2ItemBlock:
		if len(d.payload)+len(b) > d.frameLen {
			return false
		}
		d.payload = append(d.payload, b...)
		if len(d.payload) == d.frameLen {
			return t.h2FrameLocked(c, d, p)
		}
	default:
		return false
	}
	return true
}

// h2FrameLocked accounts for a HEADERS, PUSH_PROMISE or CONTINUATION frame
// whose payload is d.payload.
func (t *tracker) h2FrameLocked(c *h2conn, d *h2direction, p *packet) bool {
	frag, flags := d.payload, d.frameFlags
	switch d.frameType {
	case h2FrameHeaders, h2FramePushPromise:
		if d.blockOpen || d.frameStream == 0 {
			return false
		}
		if flags&h2FlagPadded != 0 {
			if len(frag) < 1 || int(frag[0]) > len(frag)-1 {
				return false
			}
			frag = frag[1 : len(frag)-int(frag[0])]
		}
		skip := 0
		switch {
		case d.frameType == h2FramePushPromise:
			skip = 4 // the promised stream
		case flags&h2FlagPriority != 0:
			skip = 5
		}
		if len(frag) < skip {
			return false
		}
		d.block = append(d.block[:0], frag[skip:]...)
		d.blockStream, d.blockOpen, d.blockNs = d.frameStream, true, p.bootNs
		d.blockPush = d.frameType == h2FramePushPromise
		d.blockEnd = !d.blockPush && flags&h2FlagEndStream != 0
	case h2FrameContinuation:
		if !d.blockOpen || d.frameStream != d.blockStream || len(d.block)+len(frag) > t.cfg.MaxHeadBytes {
			return false
		}
		d.block = append(d.block, frag...)
	}
	d.frameLen = 0
	if flags&h2FlagEndHeaders == 0 {
		return true
	}
	d.blockOpen = false
	d.fields = h2fields{grpcStatus: -1}
	if _, err := d.dec.Write(d.block); err != nil {
		return false
	}
	if err := d.dec.Close(); err != nil {
		return false
	}
	if !d.blockPush {
		t.h2HeadersLocked(c, p, d.blockStream, &d.fields, d.blockNs)
		if d.blockEnd {
			t.h2EndLocked(c, p, d.blockStream)
		}
	}
	return true
}

// h2HeadersLocked accounts for a header list of a stream: a request's, a
// response's or trailers. A gRPC call ends with a grpc-status; one whose
// trailers (or response that ends, h2EndLocked) have none counts as the
// plain HTTP/2 request it then is, by its :status.
func (t *tracker) h2HeadersLocked(c *h2conn, p *packet, id uint32, f *h2fields, ns uint64) {
	if !c.preface {
		t.dropped[dropH2NoPreface]++
		return
	}
	var s *h2stream
	if sp, ok := c.streams.Get(id); ok {
		s = *sp
	}
	switch {
	case f.method != "":
		if s != nil {
			return // a second request on one stream: malformed, the first stays
		}
		s = &h2stream{server: !p.egress, grpc: f.grpc, bootNs: ns}
		s.method = f.method[:min(len(f.method), events.MaxHTTPMethod)]
		path, cut := requestPath([]byte(f.path))
		s.path, s.pathCut = string(path), cut
		if p.heard {
			s.detail = s.event(p)
			t.spans.place(s.detail, []byte(f.traceparent), s.server, p.src, p.dst, ns)
		}
		if _, _, evicted := c.streams.Put(id, s); evicted {
			t.dropped[dropStreamsFull]++
		}
	case s == nil || s.server != p.egress:
		// Not a response to a request seen, or a request's trailers.
		if f.status != 0 {
			t.dropped[dropUnmatched]++
		}
	case f.status != 0:
		if f.status < 200 || s.status != 0 {
			return // interim, or a second final response (malformed)
		}
		s.status, s.statusNs = f.status, ns
		switch {
		case !s.grpc:
			t.h2FinishLocked(c, p, id, s, -1)
		case f.grpcStatus >= 0: // trailers-only
			t.h2FinishLocked(c, p, id, s, f.grpcStatus)
		}
	case s.status != 0: // trailers
		t.h2FinishLocked(c, p, id, s, f.grpcStatus)
	}
}

// h2EndLocked ends a stream whose response ended (END_STREAM on the
// response's side) while it still waits: a gRPC call without a
// grpc-status, counted by its :status, or a response without a final
// :status (malformed).
func (t *tracker) h2EndLocked(c *h2conn, p *packet, id uint32) {
	sp, ok := c.streams.Get(id)
	if !ok || (*sp).server != p.egress {
		return // finished already, or the request's end
	}
	if s := *sp; s.status != 0 {
		t.h2FinishLocked(c, p, id, s, -1)
		return
	}
	t.dropped[dropMalformed]++
	c.streams.Delete(id)
}

// expireStreams gives up the streams that have waited longer than
// H2StreamTimeout at nowNs (CLOCK_BOOTTIME, as the records' times): the
// oldest of each connection first, as they were put.
func (t *tracker) expireStreams(nowNs uint64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	stale := func(s **h2stream) bool { return int64(nowNs-(*s).bootNs) > int64(t.cfg.H2StreamTimeout) }
	for _, c := range t.h2conns.All {
		(*c).streams.ExpireWhile(stale, func(uint32, *h2stream) { t.dropped[dropH2StreamTimeout]++ })
	}
}

// h2ResetLocked ends a stream reset before its response ended.
func (t *tracker) h2ResetLocked(c *h2conn, id uint32) {
	if _, ok := c.streams.Get(id); ok {
		t.dropped[dropH2Reset]++
		c.streams.Delete(id)
	}
}

// h2FinishLocked counts a stream whose response came: a gRPC call with
// grpcStatus, else (grpcStatus -1) an HTTP/2 request, gRPC's without a
// grpc-status too.
func (t *tracker) h2FinishLocked(c *h2conn, p *packet, id uint32, s *h2stream, grpcStatus int) {
	c.streams.Delete(id)
	req := request{method: methodLabel([]byte(s.method)), bootNs: s.bootNs, server: s.server}
	failing := failingStatus(s.status)
	if grpcStatus >= 0 {
		t.countGRPCLocked(p.cgroup, s.server, grpcStatus, s.statusNs-s.bootNs)
		failing = failingGRPC(grpcStatus)
	} else {
		t.countLocked(p.cgroup, &req, s.status, s.statusNs)
	}
	t.keepNotableLocked(p.cgroup, s.bootNs, s.statusNs, failing, func() events.HTTP {
		d := s.event(p)
		s.finish(d, grpcStatus)
		return *d
	})
	if s.detail != nil {
		s.finish(s.detail, grpcStatus)
		t.done = append(t.done, transaction{cgroup: p.cgroup, bootNs: s.bootNs, http: *s.detail})
	}
}

// event is the start of the stream's event, on the socket of p.
func (s *h2stream) event(p *packet) *events.HTTP {
	d := &events.HTTP{
		Direction:     directionLabels[serverIndex(s.server)],
		Method:        s.method,
		Path:          validPath([]byte(s.path)),
		PathTruncated: s.pathCut,
		Protocol:      "HTTP/2",
		TLS:           p.tls,
	}
	d.Peer, d.Local = ends(p)
	return d
}

// finish completes an event with the response: a gRPC call's when it
// ended with grpcStatus (not -1).
func (s *h2stream) finish(d *events.HTTP, grpcStatus int) {
	d.Status = s.status
	d.Latency = time.Duration(s.statusNs - s.bootNs)
	if grpcStatus >= 0 {
		d.GRPC, d.GRPCStatus = true, grpcStatus
	}
}

// failingGRPC says whether a gRPC status is the server's fault (OTel RPC
// conventions: UNKNOWN, DEADLINE_EXCEEDED, UNIMPLEMENTED, INTERNAL,
// UNAVAILABLE, DATA_LOSS).
func failingGRPC(code int) bool {
	switch code {
	case 2, 4, 12, 13, 14, 15:
		return true
	}
	return false
}
