/* TCP retransmissions, SYN and SYN-ACK ones included. */
#pragma once

#include "types.h"

/*
 * Fires after every retransmission attempt, SYNs included, with its error.
 * What counts is the advance of the socket's total_retrans, which the kernel
 * moves together with its RetransSegs counter: segments (not skbs) that went
 * out to be sent again, even if the device then dropped them, and none for
 * attempts given up early (-EBUSY while the original is still queued, ...).
 * Runs under the socket lock: no other retransmission of it races.
 */
static __always_inline int retransmitted(const struct sock *sk, int err)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	struct conn *c = conn_lookup(cookie_of(sk));
	__u32 segs;

	if (!tp)
		return 0;
	if (c) {
		segs = tp->total_retrans - c->retrans;
		c->retrans = tp->total_retrans;
	} else {
		segs = !err; /* a socket older than the agent, without a baseline */
	}
	if (!segs)
		return 0;
	struct net_stats *s = stats_of(sock_cgroup_id(sk));
	if (s)
		s->retransmits += segs;
	return 0;
}

/* A SYN-ACK retransmitted (and sent) for a pending connection: counted on the listener's cgroup. */
static __always_inline int synack_retransmitted(const struct sock *sk)
{
	struct net_stats *s = stats_of(sock_cgroup_id(sk));
	if (s)
		s->retransmits++;
	return 0;
}
