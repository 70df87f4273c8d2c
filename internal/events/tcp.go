package events

import (
	"net/netip"
	"time"
)

// Traffic is what a connection moved: payload bytes and payload-carrying
// segments each way, segments retransmitted (SYNs included) and the smoothed
// round-trip time. Flows and tcp events carry it alike.
type Traffic struct {
	TxBytes     uint64        `json:"txBytes"`
	RxBytes     uint64        `json:"rxBytes"`
	TxPackets   uint64        `json:"txPackets"`
	RxPackets   uint64        `json:"rxPackets"`
	Retransmits uint64        `json:"retransmits"`
	RTT         time.Duration `json:"rttNs"`
}

// TCP is what a tcp event adds: a connection opened (handshake completed),
// closed (its socket released), or failed (a handshake that never completed).
type TCP struct {
	Event     string `json:"event"`     // open, close or failed
	Direction string `json:"direction"` // outbound, inbound, or empty for a connection older than the agent
	Result    string `json:"result"`    // ok or failed
	// Reason says why a connection failed or ended abnormally: refused,
	// timeout, reset, host unreachable, ... (empty for a normal close).
	Reason  string         `json:"reason,omitempty"`
	Local   netip.AddrPort `json:"local"`
	Remote  netip.AddrPort `json:"remote"`
	NetNS   uint32         `json:"netns"` // network namespace inode
	Traffic                // so far (final at close)
	// Duration is the handshake's for open and failed, the connection's lifetime for close.
	Duration time.Duration `json:"durationNs"`
	// Cookie is the kernel's socket cookie: the connection's id on this node.
	Cookie uint64 `json:"cookie"`
}
