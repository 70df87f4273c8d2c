package probe

import "net/netip"

// AddrPort is an address as BPF records carry it (16 bytes, an IPv4
// address in the first 4; family 4 or 6) with a port in host byte order.
func AddrPort(family uint8, a *[16]byte, port uint16) netip.AddrPort {
	if family == 4 {
		return netip.AddrPortFrom(netip.AddrFrom4([4]byte(a[:4])), port)
	}
	return netip.AddrPortFrom(netip.AddrFrom16(*a), port)
}
