package http

import (
	"bytes"
	"encoding/binary"
	"testing"

	"golang.org/x/net/http2/hpack"
)

// h2wire writes the items h2.bpf.h sends for one connection end, with an
// HPACK encoder per direction as the peers have.
type h2wire struct {
	t     *testing.T
	tr    *tracker
	ns    uint64
	enc   [2]*hpack.Encoder
	buf   [2]bytes.Buffer
	items [2][]byte // not yet sent, by direction
	// piece cuts header blocks into BLOCK items of at most this many bytes.
	piece int
	done  []transaction // what the records finished
}

func newH2Wire(t *testing.T) *h2wire {
	w := &h2wire{t: t, tr: newTracker(DefaultConfig()), piece: 7}
	for d := range w.enc {
		w.enc[d] = hpack.NewEncoder(&w.buf[d])
	}
	w.start(true, true)
	w.start(false, false)
	return w
}

// start begins a direction, after the client preface or not.
func (w *h2wire) start(egress, preface bool) {
	d := direction(egress)
	n := byte(0)
	if preface {
		n = 1
	}
	w.items[d] = append(w.items[d], h2ItemStart, n, 0)
}

func (w *h2wire) item(egress bool, tag byte, b []byte) {
	d := direction(egress)
	w.items[d] = append(w.items[d], tag, byte(len(b)), byte(len(b)>>8))
	w.items[d] = append(w.items[d], b...)
}

// block encodes fields (name, value pairs) with the direction's encoder.
func (w *h2wire) block(egress bool, fields ...string) []byte {
	d := direction(egress)
	w.buf[d].Reset()
	for i := 0; i < len(fields); i += 2 {
		w.enc[d].WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return bytes.Clone(w.buf[d].Bytes())
}

// frame adds a frame; the payload of header-carrying ones goes in pieces.
func (w *h2wire) frame(egress bool, typ, flags byte, stream uint32, payload []byte) {
	hdr := []byte{byte(len(payload) >> 16), byte(len(payload) >> 8), byte(len(payload)), typ, flags, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hdr[5:], stream)
	w.item(egress, h2ItemFrame, hdr)
	for len(payload) > 0 {
		n := min(len(payload), w.piece)
		w.item(egress, h2ItemBlock, payload[:n])
		payload = payload[n:]
	}
}

// dataEnd adds the header of a DATA frame of n bytes that ends its
// stream, as the kernel sends it: without the payload.
func (w *h2wire) dataEnd(egress bool, stream uint32, n int) {
	hdr := []byte{byte(n >> 16), byte(n >> 8), byte(n), h2FrameData, h2FlagEndStream, 0, 0, 0, 0}
	binary.BigEndian.PutUint32(hdr[5:], stream)
	w.item(egress, h2ItemFrame, hdr)
}

// headers adds one HEADERS frame with END_HEADERS.
func (w *h2wire) headers(egress bool, stream uint32, endStream bool, fields ...string) {
	var flags byte = h2FlagEndHeaders
	if endStream {
		flags |= 0x1
	}
	w.frame(egress, h2FrameHeaders, flags, stream, w.block(egress, fields...))
}

// flush sends each direction's items as one record.
func (w *h2wire) flush() {
	for d, egress := range []bool{true, false} {
		if len(w.items[d]) == 0 {
			continue
		}
		w.ns += 1000
		w.done = append(w.done, w.tr.packet(&packet{bootNs: w.ns, cgroup: 1, cookie: 9, egress: egress, h2: true, data: w.items[d], heard: true})...)
		w.items[d] = nil
	}
}

func (w *h2wire) want(grpc map[grpcKey]uint64, requests map[requestKey]uint64, dropped map[int]uint64) {
	w.t.Helper()
	stats, drops := w.tr.snapshot()
	ws := stats[1]
	if ws == nil {
		ws = &workloadStats{}
	}
	for k, n := range grpc {
		if ws.grpc[k] != n {
			w.t.Errorf("gRPC %+v = %d, want %d (all %v)", k, ws.grpc[k], n, ws.grpc)
		}
	}
	for k, n := range requests {
		if ws.requests[k] != n {
			w.t.Errorf("requests %+v = %d, want %d (all %v)", k, ws.requests[k], n, ws.requests)
		}
	}
	if len(ws.grpc) != len(grpc) || len(ws.requests) != len(requests) {
		w.t.Errorf("gRPC %v, requests %v; want %v and %v", ws.grpc, ws.requests, grpc, requests)
	}
	for reason := range numDropReasons {
		if drops[reason] != dropped[reason] {
			w.t.Errorf("dropped %s = %d, want %d", dropReasonNames[reason], drops[reason], dropped[reason])
		}
	}
}

func grpcRequest(path string) []string {
	return []string{":method", "POST", ":scheme", "http", ":path", path, ":authority", "a", "content-type", "application/grpc", "te", "trailers"}
}

var grpcResponse = []string{":status", "200", "content-type", "application/grpc"}

// Streams of one connection answered out of order, as the client (egress
// requests): gRPC by their trailers, a trailers-only response, plain
// HTTP/2 by its response HEADERS, a reset stream, and a header block in
// CONTINUATION frames with padding and priority.
func TestH2StreamsAsClient(t *testing.T) {
	w := newH2Wire(t)
	w.headers(true, 1, false, grpcRequest("/pkg.Svc/A")...)
	w.headers(true, 3, false, grpcRequest("/pkg.Svc/A")...) // from the dynamic table
	w.headers(true, 5, true, ":method", "GET", ":scheme", "http", ":path", "/x?q=1", ":authority", "a")
	w.headers(true, 7, false, grpcRequest("/pkg.Svc/B")...)
	w.flush()
	w.headers(false, 3, false, grpcResponse...)
	w.headers(false, 5, true, ":status", "404")
	w.headers(false, 1, true, append(grpcResponse, "grpc-status", "5")...) // trailers-only
	w.flush()
	w.headers(false, 3, true, "grpc-status", "0", "grpc-message", "")
	w.frame(false, h2FrameRSTStream, 0, 7, nil)
	// A request whose block is padded, has a priority and goes on in a
	// CONTINUATION frame.
	block := w.block(true, grpcRequest("/pkg.Svc/C")...)
	first := append([]byte{2, 0, 0, 0, 0, 16}, block[:4]...)
	w.frame(true, h2FrameHeaders, h2FlagPadded|h2FlagPriority, 9, append(first, 0, 0))
	w.frame(true, h2FrameContinuation, h2FlagEndHeaders, 9, block[4:])
	w.flush()
	w.headers(false, 9, false, grpcResponse...)
	w.headers(false, 9, true, "grpc-status", "14")
	w.flush()
	w.want(map[grpcKey]uint64{{status: 0}: 1, {status: 5}: 1, {status: 14}: 1},
		map[requestKey]uint64{{method: "GET", status: 404}: 1},
		map[int]uint64{dropH2Reset: 1})
	c, _ := w.tr.h2conns.Get(9)
	if n := (*c).streams.Len(); n != 0 {
		t.Errorf("%d streams left", n)
	}
}

// The server's view (ingress requests), with events: a gRPC call's
// method, path and status, and a traceparent that places its span.
func TestH2EventsAsServer(t *testing.T) {
	w := newH2Wire(t)
	w.headers(false, 1, false, append(grpcRequest("/pkg.Svc/A?x"), "traceparent", "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01")...)
	w.flush()
	w.headers(true, 1, false, grpcResponse...)
	w.flush()
	w.headers(true, 1, true, "grpc-status", "5")
	w.ns += 1000
	txs := w.tr.packet(&packet{bootNs: w.ns, cgroup: 1, cookie: 9, egress: true, h2: true, data: w.items[0], heard: true})
	if len(txs) != 1 {
		t.Fatalf("%d finished, want 1", len(txs))
	}
	d := txs[0].http
	if d.Direction != "server" || d.Method != "POST" || d.Path != "/pkg.Svc/A" || d.Protocol != "HTTP/2" || !d.GRPC ||
		d.GRPCStatus != 5 || d.Status != 200 || d.Latency != 1000 || d.TraceID.String() != "0af7651916cd43dd8448eb211c80319c" ||
		d.ParentSpanID.String() != "b7ad6b7169203331" {
		t.Errorf("event %+v", d)
	}
	w.want(map[grpcKey]uint64{{server: true, status: 5}: 1}, nil, nil)
}

// A PUSH_PROMISE's block updates the HPACK state: a later block that
// refers to its entries decodes.
func TestH2PushPromiseKeepsState(t *testing.T) {
	w := newH2Wire(t)
	w.headers(true, 1, true, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a")
	w.flush()
	promise := append([]byte{0, 0, 0, 2}, w.block(false, ":method", "GET", ":path", "/pushed.css", ":authority", "a", ":scheme", "http")...)
	w.frame(false, h2FramePushPromise, h2FlagEndHeaders, 1, promise)
	w.headers(false, 1, true, ":status", "200", "x-pushed", "/pushed.css") // ":path" literal indexed name
	w.flush()
	w.want(nil, map[requestKey]uint64{{method: "GET", status: 200}: 1}, nil)
}

// A direction lost (a gap in the kernel) forgets the connection's streams,
// counted; its later items are not decoded.
func TestH2Lost(t *testing.T) {
	w := newH2Wire(t)
	w.headers(true, 1, false, grpcRequest("/pkg.Svc/A")...)
	w.headers(true, 3, false, grpcRequest("/pkg.Svc/A")...)
	w.flush()
	w.item(false, h2ItemLost, nil)
	w.headers(false, 1, true, append(grpcResponse, "grpc-status", "0")...)
	w.flush()
	w.want(nil, nil, map[int]uint64{dropH2Lost: 1, dropH2StreamsLost: 2})
}

// Both directions saying they are lost lose the connection once.
func TestH2LostCountedOnce(t *testing.T) {
	w := newH2Wire(t)
	w.headers(true, 1, false, grpcRequest("/pkg.Svc/A")...)
	w.flush()
	w.item(true, h2ItemLost, nil)
	w.item(false, h2ItemLost, nil)
	w.flush()
	w.want(nil, nil, map[int]uint64{dropH2Lost: 1, dropH2StreamsLost: 1})
}

// A connection end whose directions start again (its key, a TLS object,
// reused by a new connection) forgets the old connection's streams and
// HPACK state, counted, and follows the new one from its start.
func TestH2StartsAgain(t *testing.T) {
	w := newH2Wire(t)
	w.headers(true, 1, false, grpcRequest("/pkg.Svc/Old")...)
	w.flush()
	for d := range w.enc {
		w.enc[d] = hpack.NewEncoder(&w.buf[d])
	}
	w.start(true, true)
	w.start(false, false)
	w.headers(true, 1, false, grpcRequest("/pkg.Svc/New")...)
	w.headers(false, 1, false, grpcResponse...)
	w.headers(false, 1, true, "grpc-status", "5")
	w.flush()
	w.want(map[grpcKey]uint64{{server: false, status: 5}: 1}, nil, map[int]uint64{dropH2Lost: 1, dropH2StreamsLost: 1})
}

// An item longer than its record loses the connection: what the rest of
// the record held is unknown.
func TestH2TruncatedItemLoses(t *testing.T) {
	w := newH2Wire(t)
	w.headers(true, 1, false, grpcRequest("/pkg.Svc/A")...)
	w.flush()
	w.items[direction(true)] = append(w.items[direction(true)], h2ItemBlock, 200, 0, 1, 2)
	w.flush()
	w.want(nil, nil, map[int]uint64{dropH2Lost: 1, dropH2StreamsLost: 1, dropMalformed: 1})
}

func TestIsGRPC(t *testing.T) {
	for ct, want := range map[string]bool{
		"application/grpc": true, "application/grpc+proto": true, "application/grpc;charset=utf-8": true,
		"application/grpc-web": false, "application/grpc-web+proto": false, "application/grpcx": false, "text/plain": false,
	} {
		if isGRPC(ct) != want {
			t.Errorf("isGRPC(%q) = %v, want %v", ct, !want, want)
		}
	}
}

// A block that does not decode loses the connection rather than guess.
func TestH2BadBlockLoses(t *testing.T) {
	w := newH2Wire(t)
	w.headers(true, 1, false, grpcRequest("/pkg.Svc/A")...)
	w.frame(true, h2FrameHeaders, h2FlagEndHeaders, 3, []byte{0xfe}) // index 126: past the tables
	w.headers(true, 5, false, grpcRequest("/pkg.Svc/A")...)
	w.flush()
	w.want(nil, nil, map[int]uint64{dropH2Lost: 1, dropH2StreamsLost: 1})
}

// Without the client preface (a TLS connection older than its hooks may
// start a direction at a SETTINGS frame mid-stream), header lists are not
// counted.
func TestH2NeedsThePreface(t *testing.T) {
	w := newH2Wire(t)
	w.items = [2][]byte{}
	w.start(true, false)
	w.start(false, false)
	w.headers(true, 1, true, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a")
	w.flush()
	w.headers(false, 1, true, ":status", "200")
	w.flush()
	w.want(nil, nil, map[int]uint64{dropH2NoPreface: 2})
}

func FuzzH2(f *testing.F) {
	w := newH2Wire(&testing.T{})
	w.headers(true, 1, false, grpcRequest("/pkg.Svc/A")...)
	w.headers(false, 1, false, grpcResponse...)
	w.headers(false, 1, true, "grpc-status", "0")
	w.frame(true, h2FrameRSTStream, 0, 3, nil)
	block := w.block(true, ":method", "GET", ":path", "/")
	w.frame(true, h2FrameHeaders, h2FlagPadded, 5, append([]byte{1}, append(block[:2], 0)...))
	w.frame(true, h2FrameContinuation, h2FlagEndHeaders, 5, block[2:])
	w.dataEnd(false, 5, 70000)
	w.dataEnd(true, 7, 0)
	f.Add(w.items[0], w.items[1])
	f.Fuzz(func(t *testing.T, egress, ingress []byte) {
		cfg := DefaultConfig()
		cfg.MaxH2Connections, cfg.MaxHeadBytes = 2, 64
		tr := newTracker(cfg)
		for i := range 4 { // each direction in four records, cut anywhere
			for d, b := range [][]byte{egress, ingress} {
				b = b[len(b)*i/4 : len(b)*(i+1)/4]
				tr.packet(&packet{bootNs: uint64(i), cgroup: 1, cookie: uint64(i % 3), egress: d == 0, h2: true, data: b, heard: i%2 == 0})
			}
		}
		waiting := 0
		for _, cp := range tr.h2conns.All {
			c := *cp
			waiting += c.streams.Len()
			if c.streams.Len() > h2MaxStreams {
				t.Fatalf("%d streams, bound %d", c.streams.Len(), h2MaxStreams)
			}
			for _, d := range c.dirs {
				if len(d.block) > cfg.MaxHeadBytes || len(d.payload) > cfg.MaxHeadBytes {
					t.Fatalf("block %d, payload %d bytes, bound %d", len(d.block), len(d.payload), cfg.MaxHeadBytes)
				}
			}
		}
		// Every waiting stream times out, each counted once.
		tr.expireStreams(1 << 62)
		tr.expireStreams(1 << 62)
		if _, dropped := tr.snapshot(); dropped[dropH2StreamTimeout] != uint64(waiting) {
			t.Fatalf("%d streams timed out, %d waited", dropped[dropH2StreamTimeout], waiting)
		}
	})
}

// BenchmarkTrackerGRPC measures the user-space side of one unary gRPC call
// as the server sees it: the request's HEADERS, the response's HEADERS
// and its trailers decoded (HPACK with the dynamic table warm, as grpc-go
// encodes them), matched and counted.
func BenchmarkTrackerGRPC(b *testing.B) {
	const calls = 1 << 12
	w := newH2Wire(&testing.T{})
	w.piece = 1 << 10
	var records [][2][]byte
	for i := range calls {
		id := uint32(2*i + 1)
		w.headers(false, id, false, grpcRequest("/grpc.health.v1.Health/Check")...)
		w.headers(true, id, false, grpcResponse...)
		w.headers(true, id, true, "grpc-status", "0", "grpc-message", "")
		records = append(records, w.items)
		w.items = [2][]byte{}
	}
	b.ReportAllocs()
	var tr *tracker
	for i := 0; b.Loop(); i++ {
		if i%calls == 0 { // a new connection: the blocks refer to its HPACK state
			tr = newTracker(DefaultConfig())
			tr.packet(&packet{cgroup: 1, cookie: 1, h2: true, data: []byte{h2ItemStart, 1, 0}})
			tr.packet(&packet{cgroup: 1, cookie: 1, egress: true, h2: true, data: []byte{h2ItemStart, 0, 0}})
		}
		r := records[i%calls]
		tr.packet(&packet{bootNs: uint64(i) * 1000, cgroup: 1, cookie: 1, h2: true, data: r[1]})
		tr.packet(&packet{bootNs: uint64(i)*1000 + 500, cgroup: 1, cookie: 1, egress: true, h2: true, data: r[0]})
	}
	if stats, _ := tr.snapshot(); stats[1] == nil || stats[1].grpc[grpcKey{server: true}] == 0 {
		b.Fatal("no call counted")
	}
}

// A connection at h2MaxStreams waiting streams follows a new one: the
// oldest gives way, counted, and its late response matches nothing.
func TestH2StreamsFullEvictsOldest(t *testing.T) {
	const extra = 3
	w := newH2Wire(t)
	for i := range h2MaxStreams + extra {
		w.headers(true, uint32(2*i+1), false, grpcRequest("/pkg.Svc/A")...)
	}
	w.flush()
	oldest, newest := uint32(2*extra+1), uint32(2*(h2MaxStreams+extra)-1)
	w.headers(false, 1, true, append(grpcResponse, "grpc-status", "0")...) // given way
	w.headers(false, oldest, true, append(grpcResponse, "grpc-status", "0")...)
	w.headers(false, newest, true, append(grpcResponse, "grpc-status", "5")...)
	w.flush()
	w.want(map[grpcKey]uint64{{status: 0}: 1, {status: 5}: 1}, nil, map[int]uint64{dropStreamsFull: extra, dropUnmatched: 1})
	if c, _ := w.tr.h2conns.Get(9); (*c).streams.Len() != h2MaxStreams-2 {
		t.Errorf("%d streams wait, want %d", (*c).streams.Len(), h2MaxStreams-2)
	}
}

// A stream that waited longer than H2StreamTimeout is given up at the
// sweep, counted once, on a connection that has gone quiet; a younger one
// still waits and is counted when its response comes.
func TestH2StreamTimeout(t *testing.T) {
	w := newH2Wire(t)
	w.tr.cfg.H2StreamTimeout = 2000
	w.headers(true, 1, false, grpcRequest("/pkg.Svc/A")...)
	w.flush() // at 1000
	w.headers(true, 3, false, grpcRequest("/pkg.Svc/A")...)
	w.flush() // at 3000
	w.tr.expireStreams(3000)
	w.want(nil, nil, nil)
	w.tr.expireStreams(4000)
	w.tr.expireStreams(4500)
	w.want(nil, nil, map[int]uint64{dropH2StreamTimeout: 1})
	w.headers(false, 1, true, append(grpcResponse, "grpc-status", "0")...)
	w.headers(false, 3, true, append(grpcResponse, "grpc-status", "0")...)
	w.flush()
	w.want(map[grpcKey]uint64{{status: 0}: 1}, nil, map[int]uint64{dropH2StreamTimeout: 1, dropUnmatched: 1})
}

// A response's END_STREAM (on a DATA frame, or its HEADERS) ends its
// stream: a gRPC call without a grpc-status (no trailers, a proxy's 503,
// trailers without one) counts as the plain HTTP/2 request it is, by its
// :status, once; a response that ends without a final status is
// malformed; the request's own END_STREAM and one after a stream finished
// change nothing. No stream is left waiting.
func TestH2ResponseEndsWithoutTrailers(t *testing.T) {
	w := newH2Wire(t)
	for id := uint32(1); id <= 9; id += 2 {
		w.headers(true, id, false, grpcRequest("/pkg.Svc/A")...)
		w.dataEnd(true, id, 5) // the request's end
	}
	w.headers(true, 11, true, ":method", "GET", ":scheme", "http", ":path", "/", ":authority", "a")
	w.flush()
	w.headers(false, 1, false, grpcResponse...)
	w.dataEnd(false, 1, 70000) // no trailers
	w.headers(false, 3, true, ":status", "503", "content-type", "text/plain")
	w.headers(false, 5, false, grpcResponse...)
	w.headers(false, 5, true, "x-no-status", "1") // trailers without grpc-status
	w.headers(false, 7, true, ":status", "100")   // interim, then the end
	w.headers(false, 9, false, grpcResponse...)
	w.headers(false, 9, true, "grpc-status", "0")
	w.dataEnd(false, 9, 0) // after the stream finished
	w.headers(false, 11, false, ":status", "200")
	w.dataEnd(false, 11, 3)
	w.flush()
	w.want(map[grpcKey]uint64{{status: 0}: 1},
		map[requestKey]uint64{{method: "POST", status: 200}: 2, {method: "POST", status: 503}: 1, {method: "GET", status: 200}: 1},
		map[int]uint64{dropMalformed: 1})
	if c, _ := w.tr.h2conns.Get(9); (*c).streams.Len() != 0 {
		t.Errorf("%d streams wait, want none", (*c).streams.Len())
	}
	// In the order the streams finished: 1, 3, 5, 9, 11; only 9 a gRPC call.
	want := []struct {
		method string
		status int
		grpc   bool
	}{{"POST", 200, false}, {"POST", 503, false}, {"POST", 200, false}, {"POST", 200, true}, {"GET", 200, false}}
	if len(w.done) != len(want) {
		t.Fatalf("%d events, want %d", len(w.done), len(want))
	}
	for i, tx := range w.done {
		if d := tx.http; d.Method != want[i].method || d.Status != want[i].status || d.GRPC != want[i].grpc || d.GRPCStatus != 0 {
			t.Errorf("event %d = %+v, want %+v", i, d, want[i])
		}
	}
}
