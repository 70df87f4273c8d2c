/* Helpers of the probes that read packets in cgroup_skb programs. */
#pragma once

#include "orb8.h"
#include <bpf/bpf_endian.h>

/* include/uapi/linux/if_ether.h and include/net/ip.h (vmlinux.h has types only). */
#define ORB8_ETH_P_IP 0x0800
#define ORB8_ETH_P_IPV6 0x86DD
#define ORB8_IP_OFFSET_MASK 0x1fff

/*
 * Copies the addresses of the packet's IPv4 or IPv6 header, read before into
 * v4 or v6 by skb->protocol, into saddr and daddr (IPv4 in their first 4
 * bytes) and returns the family, 4 or 6.
 */
static __always_inline __u8 orb8_skb_addrs(struct __sk_buff *skb, const struct iphdr *v4, const struct ipv6hdr *v6,
					   __u8 *saddr, __u8 *daddr)
{
	if (skb->protocol == bpf_htons(ORB8_ETH_P_IP)) {
		__builtin_memcpy(saddr, &v4->saddr, 4);
		__builtin_memcpy(daddr, &v4->daddr, 4);
		return 4;
	}
	__builtin_memcpy(saddr, &v6->saddr, 16);
	__builtin_memcpy(daddr, &v6->daddr, 16);
	return 6;
}
