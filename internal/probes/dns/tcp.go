package dns

import (
	"encoding/binary"
	"net/netip"
)

// DNS over TCP frames each message with a 2-byte length (RFC 1035 4.2.2).
// The kernel sends the head of every segment, so the tracker follows where
// the next message starts in each direction of a connection by sequence
// number: a segment that starts there holds a new message, a retransmitted or
// continuing segment is skipped, and a message that begins inside a segment
// (pipelined queries) is found by its offset.

const tcpLengthPrefix = 2

// streamKey is one direction of one workload's TCP connection.
type streamKey struct {
	cgroup   uint64
	src, dst netip.AddrPort
}

type streamState struct {
	next   uint32 // sequence number where the next message starts
	lastNs uint64
}

// tcpMessagesLocked returns the captured heads of the DNS messages that
// start in segment p (without their length prefixes).
func (t *tracker) tcpMessagesLocked(p *packet) [][]byte {
	key := streamKey{cgroup: p.cgroup, src: p.src, dst: p.dst}
	start := 0 // where in the segment a message starts
	if st, ok := t.streams.Get(key); ok {
		// Serial-number distance (RFC 1982): negative when data was missed,
		// then the segment is taken to start a message, as on a new stream.
		// A segment wholly inside a message seen before (a retransmission,
		// the tail of a long response) yields nothing.
		if d := int32(st.next - p.seq); d > 0 {
			start = int(d)
		}
	}
	var msgs [][]byte
	for start < p.length {
		if start+tcpLengthPrefix > len(p.data) { // the boundary is past the capture
			t.dropped[dropStreamLost]++
			t.streams.Delete(key)
			return msgs
		}
		n := int(binary.BigEndian.Uint16(p.data[start:]))
		body := p.data[start+tcpLengthPrefix:]
		msgs = append(msgs, body[:min(n, len(body))])
		start += tcpLengthPrefix + n
	}
	t.streams.Put(key, streamState{next: p.seq + uint32(start), lastNs: p.bootNs})
	return msgs
}
