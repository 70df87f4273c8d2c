/* Live connections for the flow table: the flow walk over the connection table. */
#pragma once

#include "counting.h"
#include "orb8_sample.h"

/* Walks so far: each stamps the entries whose socket it read (conn_live.walk). */
__u64 walks = 0;
/* Entries the last walk stamped: what user space lists of it, at most. */
__u64 walked = 0;

/*
 * Reads walks with a fully ordered atomic (one that fetches): the loads
 * before it are done before the loads after it, on every architecture.
 */
static __always_inline __u64 ordered_walks(void)
{
	return __sync_fetch_and_add(&walks, 0);
}

/*
 * Takes what a tracked socket moved since the last count into its
 * workload's counters and stamps its entry with what its record needs
 * from the socket. The socket's address is untrusted here: nothing holds
 * the socket, which may be freed meanwhile and its memory reused for
 * another (TCP sockets' memory stays a socket while the walk runs, under
 * RCU, but not the same one). So loads that cannot fault only, no helper
 * that takes a socket, and what was read counts only if the socket's
 * cookie, read after it, is still the entry's: a reused socket's cookie is
 * cleared first, and cookies are never reused.
 */
static long walk_conn(struct bpf_map *map, __u64 *cookie, struct conn *c, __u64 *walk)
{
	struct sock *sk = orb8_core_cast((void *)c->sk, struct sock);
	struct tcp_sock *tp = orb8_core_cast(sk, struct tcp_sock);
	struct conn_live l = {.walk = *walk};
	struct marks m;

	if (!c->sk)
		return 0;
	int state = sk->__sk_common.skc_state;

	read_marks(tp, state, &m);
	l.state = state;
	l.family = read_ends(sk, l.saddr, l.daddr, &l.sport, &l.dport, &l.netns);
	l.retransmits = tp->total_retrans;
	l.srtt_us = srtt_of(tp);
	if (ordered_walks() != *walk || BPF_CORE_READ(sk, __sk_common.skc_cookie.counter) != *cookie)
		return 0;
	if (countable(c, state))
		count_marks(c, &m, state, l.srtt_us, 0);
	if (orb8_sampled_out(*cookie, orb8_sample_rate()))
		return 0; /* counted; its record is shed, as its events are (bpf/events.h) */
	c->live = l;
	walked++;
	return 0;
}

/*
 * Every tracked socket, in any network namespace, held by a process or
 * not (orphans closing, connections not yet accepted), with no map-element
 * iterator, which some kernel builds refuse (docs/design.md): the program
 * is called once per BPF map of the node and walks the table at the
 * first. User space then reads the table and lists the entries this walk
 * stamped.
 */
static __always_inline int walk_conns(struct bpf_iter__bpf_map *ctx)
{
	if (ctx->meta->seq_num || !ctx->map)
		return 0; /* once per run */
	__u64 walk = ++walks;

	walked = 0;
	bpf_for_each_map_elem(&conns, walk_conn, &walk, 0);
	return 0;
}
