package network

import (
	"net/netip"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/orb8/orb8/internal/events"
	"github.com/orb8/orb8/internal/probe"
)

// tcpStates names the kernel's TCP states (include/net/tcp_states.h) as ss does.
var tcpStates = [...]string{
	1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2", 6: "TIME_WAIT",
	7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN", 11: "CLOSING", 12: "NEW_SYN_RECV",
	13: "BOUND_INACTIVE",
}

func stateName(s uint8) string {
	if int(s) < len(tcpStates) && tcpStates[s] != "" {
		return tcpStates[s]
	}
	return "UNKNOWN"
}

func directionName(d networkDirection) string {
	switch d {
	case networkDirectionOUTBOUND:
		return "outbound"
	case networkDirectionINBOUND:
		return "inbound"
	}
	return "" // adopted: the handshake happened before the agent started
}

// reason turns the socket error a connection ended with into words.
func reason(errno uint16) string {
	switch unix.Errno(errno) {
	case 0:
		return ""
	case unix.ECONNREFUSED:
		return "refused"
	case unix.ETIMEDOUT:
		return "timeout"
	case unix.ECONNRESET, unix.EPIPE:
		return "reset"
	case unix.EHOSTUNREACH:
		return "host unreachable"
	case unix.ENETUNREACH:
		return "network unreachable"
	}
	if name := unix.ErrnoName(unix.Errno(errno)); name != "" {
		return name
	}
	return unix.Errno(errno).Error()
}

func endpoint(family uint16, addr *[16]uint8, port uint16) netip.AddrPort {
	if family == unix.AF_INET {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(addr[:4])), port)
	}
	// Dual-stack sockets talking IPv4 hold IPv4-mapped addresses.
	return netip.AddrPortFrom(netip.AddrFrom16(*addr).Unmap(), port)
}

// decode reads a conn_event record; ok is false for a short one.
func decode(raw []byte) (e *networkConnEvent, ok bool) {
	if len(raw) < int(unsafe.Sizeof(networkConnEvent{})) {
		return nil, false
	}
	return (*networkConnEvent)(unsafe.Pointer(&raw[0])), true
}

// liveRecord is the record of a connection the flow walk stamped, as the
// kernel fills a connection event from the socket and its entry
// (bpf/events.h): what moved is the entry's marks less their base, its
// last activity the record's time.
func liveRecord(c *networkConn) networkConnEvent {
	l := &c.Live
	e := networkConnEvent{
		BootNs: c.LastNs, StartNs: c.StartNs, CgroupId: c.CgroupId, Cookie: c.Cookie,
		Saddr: l.Saddr, Daddr: l.Daddr, Netns: l.Netns, Sport: l.Sport, Dport: l.Dport, Family: l.Family,
		Err: c.Err, Kind: networkEventKindRECORD_LIVE, Direction: c.Direction, State: l.State,
		Retransmits: l.Retransmits, SrttUs: l.SrttUs, Pid: c.Pid, Comm: c.Comm,
	}
	for i := range 2 {
		e.Bytes[i] = c.Mark[i] - c.Base[i]       // BYTES_TX, BYTES_RX
		e.Packets[i] = c.Mark[2+i] - c.Base[2+i] // SEGS_TX, SEGS_RX
	}
	if e.Sport == 0 {
		e.Sport = c.Sport // a closed socket gave its port back
	}
	return e
}

// flowOf turns a record into a flow of the table; ok is false for a
// workload the agent does not report on, whose flows are not kept.
func (p *Probe) flowOf(e *networkConnEvent, comms *probe.Comms) (f Flow, ok bool) {
	w, ok := p.env.Resolver.Visible(e.CgroupId)
	if !ok {
		return Flow{}, false
	}
	f = Flow{
		Cookie:    e.Cookie,
		Protocol:  "tcp",
		Workload:  w,
		Direction: directionName(e.Direction),
		Local:     endpoint(e.Family, &e.Saddr, e.Sport),
		Remote:    endpoint(e.Family, &e.Daddr, e.Dport),
		NetNS:     e.Netns,
		State:     stateName(e.State),
		Traffic: events.Traffic{
			TxBytes: e.Bytes[0], RxBytes: e.Bytes[1], TxPackets: e.Packets[0], RxPackets: e.Packets[1],
			Retransmits: uint64(e.Retransmits), RTT: time.Duration(e.SrttUs) * time.Microsecond,
		},
		FirstSeen: probe.BootTime(e.StartNs),
		LastSeen:  probe.BootTime(e.BootNs),
	}
	if e.Pid != 0 {
		f.Process = events.Process{PID: e.Pid, Comm: comms.Name(e.Comm)}
	}
	f.final = e.Kind == networkEventKindEVENT_CLOSE || e.Kind == networkEventKindEVENT_FAILED
	switch e.Kind {
	case networkEventKindEVENT_FAILED:
		f.Result, f.Reason = "failed", reason(e.Err)
		if f.Reason == "" {
			f.Reason = "aborted" // closed by the application before the handshake completed
		}
	case networkEventKindEVENT_CLOSE:
		f.Result, f.Reason = "ok", reason(e.Err)
		if f.Reason != "" { // reset by the peer, timed out
			f.Result = "failed"
		}
	default: // open, or live: ok once the handshake is done
		if f.State != "SYN_SENT" && f.State != "SYN_RECV" {
			f.Result = "ok"
		}
	}
	if e.StartNs == 0 { // no socket state: the kernel could not keep any
		f.FirstSeen = f.LastSeen
	}
	return f, true
}

// handle takes one connection event from the ring buffer.
func (p *Probe) handle(raw []byte) {
	p.Took()
	e, ok := decode(raw)
	if !ok {
		return
	}
	f, ok := p.flowOf(e, &p.comms)
	if !ok {
		return
	}
	// A record load shedding dropped but the kernel kept as the first to
	// its peer (LearnPeers) is an event only: its close record is shed
	// too, so the flow table would never see it close.
	if e.Shed == 0 {
		p.flows.put(&f)
	}
	if !p.env.Events.Wants(events.KindTCP) {
		return
	}
	ev := &events.TCP{
		Direction: f.Direction, Result: f.Result, Reason: f.Reason,
		Local: f.Local, Remote: f.Remote, NetNS: f.NetNS, Traffic: f.Traffic,
		Duration: time.Duration(e.BootNs - e.StartNs), Cookie: f.Cookie,
	}
	switch e.Kind {
	case networkEventKindEVENT_OPEN:
		ev.Event = "open"
	case networkEventKindEVENT_CLOSE:
		ev.Event = "close"
	case networkEventKindEVENT_FAILED:
		ev.Event = "failed"
	default:
		return
	}
	if e.StartNs == 0 {
		ev.Duration = 0
	}
	p.env.Events.Publish(events.Event{Time: f.LastSeen, Kind: events.KindTCP, Workload: f.Workload, Process: f.Process, TCP: ev})
}
