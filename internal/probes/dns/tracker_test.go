package dns

import (
	"encoding/binary"
	"net/netip"
	"testing"
	"time"

	"golang.org/x/net/dns/dnsmessage"
)

var (
	client = netip.MustParseAddrPort("10.0.0.2:40000")
	server = netip.MustParseAddrPort("10.0.0.53:53")
)

const testCgroup = 77

func testConfig() Config {
	return Config{Timeout: time.Second, MaxPending: 4, MaxStreams: 4, MaxWorkloads: 2}
}

func query(t *testing.T, at time.Duration, id uint16, name string) *packet {
	return &packet{bootNs: uint64(at), cgroup: testCgroup, egress: true, src: client, dst: server,
		data: build(t, id, false, 0, name, dnsmessage.TypeA)}
}

func reply(t *testing.T, at time.Duration, id uint16, name string, rcode dnsmessage.RCode) *packet {
	return &packet{bootNs: uint64(at), cgroup: testCgroup, src: server, dst: client,
		data: build(t, id, true, rcode, name, dnsmessage.TypeA, aRecord(name, [4]byte{192, 0, 2, 9}))}
}

func (tr *tracker) counts(t *testing.T) *workloadStats {
	t.Helper()
	stats, _ := tr.snapshot()
	if stats[testCgroup] == nil {
		return newWorkloadStats()
	}
	return stats[testCgroup]
}

func TestTrackerMatchesResponseToQuery(t *testing.T) {
	tr := newTracker(testConfig())
	tr.packet(query(t, 0, 1, "a.example."))
	tr.packet(query(t, time.Millisecond, 2, "b.example."))
	txs := tr.packet(reply(t, 3*time.Millisecond, 2, "b.example.", dnsmessage.RCodeNameError))
	if len(txs) != 1 {
		t.Fatalf("%d transactions, want 1", len(txs))
	}
	d := txs[0].dns
	if d.QName != "b.example." || d.QType != "A" || d.RCode != "NXDOMAIN" || !d.Answered || d.Answers != 1 ||
		d.Latency != 2*time.Millisecond || d.Server != server || d.Client != client || d.Protocol != "udp" ||
		len(d.Addrs) != 1 || d.Addrs[0] != netip.MustParseAddr("192.0.2.9") {
		t.Fatalf("transaction = %+v", d)
	}
	ws := tr.counts(t)
	if ws.queries["A"] != 2 || ws.responses[responseKey{"A", "NXDOMAIN"}] != 1 || ws.latency.count != 1 || ws.latency.sum != 0.002 {
		t.Fatalf("counts = %+v", ws)
	}

	// The other query times out; a late response counts, but not as matched.
	txs = tr.expire(uint64(time.Second))
	if len(txs) != 1 || txs[0].dns.QName != "a.example." || txs[0].dns.Answered {
		t.Fatalf("expired = %+v", txs)
	}
	tr.packet(reply(t, 1100*time.Millisecond, 1, "a.example.", 0))
	ws = tr.counts(t)
	if ws.unanswered["A"] != 1 || ws.unmatched != 1 || ws.responses[responseKey{"A", "NOERROR"}] != 1 || ws.latency.count != 1 {
		t.Fatalf("counts = %+v", ws)
	}
}

// With nobody listening a response is counted the same, and no lookup is
// built for the event stream.
func TestTrackerUnheardCountsTheSame(t *testing.T) {
	tr := newTracker(testConfig())
	q, r := query(t, 0, 1, "a.example."), reply(t, 3*time.Millisecond, 1, "a.example.", dnsmessage.RCodeServerFailure)
	q.unheard, r.unheard = true, true
	tr.packet(q)
	if txs := tr.packet(r); len(txs) != 0 {
		t.Fatalf("transactions %+v while unheard", txs)
	}
	ws := tr.counts(t)
	if ws.queries["A"] != 1 || ws.responses[responseKey{"A", "SERVFAIL"}] != 1 || ws.latency.count != 1 || ws.latency.sum != 0.003 ||
		tr.pending.Len() != 0 {
		t.Fatalf("counts = %+v, %d pending", ws, tr.pending.Len())
	}
}

func TestTrackerRetryKeepsFirstSendTime(t *testing.T) {
	tr := newTracker(testConfig())
	tr.packet(query(t, 0, 5, "retry.example."))
	tr.packet(query(t, 500*time.Millisecond, 5, "retry.example."))
	txs := tr.packet(reply(t, 600*time.Millisecond, 5, "retry.example.", 0))
	if len(txs) != 1 || txs[0].dns.Latency != 600*time.Millisecond {
		t.Fatalf("transactions = %+v", txs)
	}
	if ws := tr.counts(t); ws.queries["A"] != 2 {
		t.Fatalf("queries = %v, want both sends counted", ws.queries)
	}
}

func TestTrackerBoundsAndCountsDrops(t *testing.T) {
	tr := newTracker(testConfig())
	for id := range uint16(5) { // one more than MaxPending
		tr.packet(query(t, time.Duration(id), id, "full.example."))
	}
	if tr.pending.Len() != 4 {
		t.Fatalf("%d pending, want 4", tr.pending.Len())
	}
	// The oldest (id 0) gave way: its response is unmatched.
	tr.packet(reply(t, 10, 0, "full.example.", 0))
	for cg := uint64(1); cg <= 2; cg++ { // two more cgroups than MaxWorkloads allows
		q := query(t, 20, 9, "w.example.")
		q.cgroup = cg
		tr.packet(q)
	}
	tr.packet(&packet{egress: true, cgroup: testCgroup, data: []byte{1, 2, 3}})
	// A response sent by the workload (it runs a server on port 53's other side) is not its lookup.
	tr.packet(&packet{egress: true, cgroup: testCgroup, src: client, dst: server, data: build(t, 1, true, 0, "x.", dnsmessage.TypeA)})

	_, dropped := tr.snapshot()
	// Cgroup 1's query pushed out one more waiting query.
	want := [numDropReasons]uint64{dropMalformed: 2, dropWorkloadsFull: 1, dropPendingFull: 2}
	if dropped != want {
		t.Fatalf("dropped = %v, want %v", dropped, want)
	}
	if ws := tr.counts(t); ws.unmatched != 1 {
		t.Fatalf("unmatched = %d, want 1", ws.unmatched)
	}
}

func TestTrackerForget(t *testing.T) {
	tr := newTracker(testConfig())
	tr.packet(query(t, 0, 1, "a."))
	tr.forget([]uint64{testCgroup})
	if stats, _ := tr.snapshot(); len(stats) != 0 {
		t.Fatalf("stats after forget: %v", stats)
	}
}

// tcpFrames frames DNS messages with their length prefixes.
func tcpFrames(msgs ...[]byte) []byte {
	var b []byte
	for _, m := range msgs {
		b = binary.BigEndian.AppendUint16(b, uint16(len(m)))
		b = append(b, m...)
	}
	return b
}

func tcpPacket(egress bool, seq uint32, payload []byte, length int) *packet {
	p := &packet{bootNs: uint64(seq), cgroup: testCgroup, tcp: true, egress: egress, seq: seq, data: payload, length: length}
	p.src, p.dst = client, server
	if !egress {
		p.src, p.dst = server, client
	}
	return p
}

func TestTrackerTCPFollowsMessageBoundaries(t *testing.T) {
	tr := newTracker(testConfig())
	q1 := build(t, 1, false, 0, "one.example.", dnsmessage.TypeA)
	q2 := build(t, 2, false, 0, "two.example.", dnsmessage.TypeA)
	q3 := build(t, 3, false, 0, "three.example.", dnsmessage.TypeA)
	const isn = 0xfffffff0 // the sequence numbers wrap around

	// Two pipelined queries in one segment.
	both := tcpFrames(q1, q2)
	tr.packet(tcpPacket(true, isn, both, len(both)))
	// Its retransmission is not counted again.
	tr.packet(tcpPacket(true, isn, both, len(both)))
	third := tcpFrames(q3)
	tr.packet(tcpPacket(true, isn+uint32(len(both)), third, len(third)))
	if ws := tr.counts(t); ws.queries["A"] != 3 || tr.pending.Len() != 3 {
		t.Fatalf("queries = %v, %d pending; want 3", ws.queries, tr.pending.Len())
	}

	// A response larger than the capture: only its head arrived, the next
	// response starts in a later segment and is still found.
	r1 := build(t, 1, true, 0, "one.example.", dnsmessage.TypeA)
	r2 := build(t, 2, true, dnsmessage.RCodeServerFailure, "two.example.", dnsmessage.TypeA)
	big := tcpFrames(r1)
	binary.BigEndian.PutUint16(big, uint16(len(r1)+1000)) // the message goes on past the capture
	tr.packet(tcpPacket(false, 100, big, len(r1)+1000+2))
	r2f := tcpFrames(r2)
	at := 100 + uint32(len(r1)+1000+2)
	tr.packet(tcpPacket(false, at, r2f, len(r2f)))
	// A response split over two segments: the head has the question, the
	// tail (its answers) is not taken for a new message.
	r3 := tcpFrames(build(t, 3, true, 0, "three.example.", dnsmessage.TypeA, aRecord("three.example.", [4]byte{1, 1, 1, 1})))
	cut := tcpLengthPrefix + headerLen + len("three.example.") + 1 + 4
	at += uint32(len(r2f))
	tr.packet(tcpPacket(false, at, r3[:cut], cut))
	tr.packet(tcpPacket(false, at+uint32(cut), r3[cut:], len(r3)-cut))

	ws := tr.counts(t)
	if ws.responses[responseKey{"A", "NOERROR"}] != 2 || ws.responses[responseKey{"A", "SERVFAIL"}] != 1 || ws.latency.count != 3 {
		t.Fatalf("responses = %v, latencies %d; want two NOERROR, one SERVFAIL, all matched", ws.responses, ws.latency.count)
	}
	if _, dropped := tr.snapshot(); dropped != [numDropReasons]uint64{} {
		t.Fatalf("dropped = %v", dropped)
	}
}

func TestTrackerTCPBoundaryPastCaptureIsCounted(t *testing.T) {
	tr := newTracker(testConfig())
	q := build(t, 1, false, 0, "a.example.", dnsmessage.TypeA)
	seg := tcpFrames(q, q)
	// The second message's prefix lies past the captured bytes.
	tr.packet(tcpPacket(true, 1, seg[:len(q)+3], len(seg)))
	if _, dropped := tr.snapshot(); dropped[dropStreamLost] != 1 {
		t.Fatalf("dropped = %v, want one stream_lost", dropped)
	}
	if tr.streams.Len() != 0 {
		t.Fatal("stream state kept after losing the boundary")
	}
}

// FuzzTrackerPackets feeds arbitrary packets (TCP segments at any sequence
// number, any length) through the tracker: nothing may panic, and every
// table stays within its bound.
func FuzzTrackerPackets(f *testing.F) {
	q := build(f, 1, false, 0, "a.example.", dnsmessage.TypeA)
	f.Add(q, uint32(0), uint16(len(q)), false, true)
	f.Add(tcpFrames(q, q), uint32(0xfffffffe), uint16(len(q)*2+4), true, true)
	f.Add(tcpFrames(q)[:5], uint32(7), uint16(900), true, false)
	tr := newTracker(testConfig())
	f.Fuzz(func(t *testing.T, data []byte, seq uint32, length uint16, tcp, egress bool) {
		p := &packet{bootNs: uint64(seq), cgroup: uint64(seq % 4), tcp: tcp, egress: egress, src: client, dst: server,
			seq: seq, length: max(int(length), len(data)), data: data}
		if !egress {
			p.src, p.dst = server, client
		}
		tr.packet(p)
		tr.packet(p) // the same segment again, as a retransmission
		if tr.pending.Len() > tr.cfg.MaxPending || tr.streams.Len() > tr.cfg.MaxStreams || len(tr.stats) > tr.cfg.MaxWorkloads {
			t.Fatalf("tables over their bounds: %d pending, %d streams, %d workloads", tr.pending.Len(), tr.streams.Len(), len(tr.stats))
		}
	})
}

// TestTrackerWeighsSampledMessages: a message kept at sampling rate N counts
// as N of its kind, and an unanswered query as N unanswered.
func TestTrackerWeighsSampledMessages(t *testing.T) {
	tr := newTracker(testConfig())
	q, r := query(t, 0, 1, "a.example."), reply(t, 2*time.Millisecond, 1, "a.example.", dnsmessage.RCodeSuccess)
	q.weight, r.weight = 8, 8
	tr.packet(q)
	tr.packet(r)
	lost := query(t, 3*time.Millisecond, 2, "b.example.")
	lost.weight = 4
	tr.packet(lost)
	tr.expire(uint64(3*time.Millisecond + 2*time.Second))
	ws := tr.counts(t)
	if ws.queries["A"] != 12 || ws.responses[responseKey{"A", "NOERROR"}] != 8 || ws.unanswered["A"] != 4 ||
		ws.latency.count != 8 || ws.latency.sum != 8*0.002 {
		t.Fatalf("counts = %+v, latency %+v", ws, ws.latency)
	}
}

// Messages the kernel counted (UDP) are named, never counted again: not as
// queries, responses, unanswered queries or drops.
func TestTrackerNamesCountedMessagesOnly(t *testing.T) {
	tr := newTracker(testConfig())
	counted := func(p *packet) *packet { p.counted = true; return p }
	tr.packet(counted(query(t, 0, 1, "a.example.")))
	txs := tr.packet(counted(reply(t, time.Millisecond, 1, "a.example.", dnsmessage.RCodeSuccess)))
	if len(txs) != 1 || txs[0].dns.QName != "a.example." || txs[0].dns.Latency != time.Millisecond {
		t.Fatalf("transactions = %+v", txs)
	}
	tr.packet(counted(query(t, 2*time.Millisecond, 2, "lost.example.")))
	if txs := tr.expire(uint64(2*time.Millisecond + 2*time.Second)); len(txs) != 1 || txs[0].dns.Answered {
		t.Fatalf("expired = %+v", txs)
	}
	tr.packet(counted(&packet{egress: true, cgroup: testCgroup, data: []byte{1, 2, 3}}))
	stats, dropped := tr.snapshot()
	if len(stats) != 0 || dropped != [numDropReasons]uint64{} {
		t.Fatalf("counted messages counted again: %+v, dropped %v", stats, dropped)
	}
}
