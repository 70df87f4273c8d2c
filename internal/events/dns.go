package events

import (
	"net/netip"
	"time"
)

// DNS is what a dns event adds: one lookup of the workload, a query and its
// response, or a query that got none (Answered false) within the timeout.
type DNS struct {
	QName    string `json:"qname"`
	QType    string `json:"qtype"`
	RCode    string `json:"rcode,omitempty"` // NOERROR, NXDOMAIN, ...; empty when unanswered
	Answered bool   `json:"answered"`
	// Answers is the response's answer count (ANCOUNT); Addrs are the A and
	// AAAA addresses among the answers the probe captured.
	Answers  int            `json:"answers"`
	Addrs    []netip.Addr   `json:"addrs,omitempty"`
	Latency  time.Duration  `json:"latencyNs"` // query sent to response received
	Server   netip.AddrPort `json:"server"`
	Client   netip.AddrPort `json:"client"`
	Protocol string         `json:"protocol"` // udp or tcp
	ID       uint16         `json:"id"`
}
