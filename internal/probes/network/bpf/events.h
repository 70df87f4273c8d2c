/* Connection records: what the ring buffer carries. */
#pragma once

#include "counting.h"
#include "orb8_sample.h"
#include <bpf/bpf_endian.h>

static __always_inline void fill_event(struct conn_event *e, const struct sock *sk, const struct tcp_sock *tp,
				       const struct conn *c, enum event_kind kind, __u8 state)
{
	__builtin_memset(e, 0, sizeof(*e));
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->kind = kind;
	e->state = state;
	e->family = read_ends(sk, e->saddr, e->daddr, &e->sport, &e->dport, &e->netns);
	if (tp) {
		e->retransmits = tp->total_retrans;
		e->srtt_us = srtt_of(tp);
	}
	if (c) {
		e->pid = c->pid;
		__builtin_memcpy(e->comm, c->comm, sizeof(e->comm));
		e->cgroup_id = c->cgroup_id;
		e->cookie = c->cookie;
		e->start_ns = c->start_ns;
		e->direction = c->direction;
		e->err = c->err;
		if (!e->sport)
			e->sport = c->sport;
		e->bytes[TX] = c->mark[BYTES_TX] - c->base[BYTES_TX];
		e->bytes[RX] = c->mark[BYTES_RX] - c->base[BYTES_RX];
		e->packets[TX] = c->mark[SEGS_TX] - c->base[SEGS_TX];
		e->packets[RX] = c->mark[SEGS_RX] - c->base[SEGS_RX];
	} else {
		e->cgroup_id = sock_cgroup_id(sk);
		e->cookie = bpf_get_socket_cookie((struct sock *)sk);
		e->direction = DIRECTION_UNKNOWN;
		e->err = sk->sk_err;
	}
}

/*
 * Whether an open or failed connection is the first of its workload to its
 * peer since the peer entered peers_seen: such records bypass load shedding,
 * so behaviour profiles (--anomaly-detection) see every new peer. One LRU
 * lookup per connection, only while user space asks (first_peers).
 */
static __always_inline bool first_of_peer(const struct sock *sk, const struct conn *c, enum event_kind kind)
{
	if (!first_peers || !c || (kind != EVENT_OPEN && kind != EVENT_FAILED) || c->direction == DIRECTION_UNKNOWN)
		return false;
	struct peer_key key = {.cgroup_id = c->cgroup_id, .direction = c->direction};

	if (c->direction == INBOUND) {
		key.port = sk->__sk_common.skc_num;
	} else {
		key.port = bpf_ntohs(sk->__sk_common.skc_dport);
		if (sk->__sk_common.skc_family == AF_INET)
			__builtin_memcpy(key.addr, &sk->__sk_common.skc_daddr, 4);
		else
			bpf_probe_read_kernel(key.addr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	__u8 one = 1;
	return bpf_map_update_elem(&peers_seen, &key, &one, BPF_NOEXIST) == 0;
}

/*
 * Open records are for watchers (orb8_emit: set while someone streams tcp
 * events, and where no flow walk lists open connections): the close record
 * carries all the flow table needs, and the walk lists open connections
 * with live counts. Half the records of a short connection, and the agent's
 * work on them, go while the gate is closed; with it open, a first of its
 * peer still passes load shedding.
 */
static __always_inline void emit(const struct sock *sk, const struct conn *c, enum event_kind kind, __u8 state)
{
	if (kind == EVENT_OPEN && !orb8_emit_wanted(EVENT_OPEN))
		return;
	__u64 cookie = c ? c->cookie : bpf_get_socket_cookie((struct sock *)sk);
	bool shed = orb8_sampled_out(cookie, orb8_sample_rate());
	bool first = first_of_peer(sk, c, kind);

	if (shed && !first)
		return;
	struct conn_event *e = orb8_reserve(&events, sizeof(*e));

	if (!e)
		return;
	fill_event(e, sk, bpf_skc_to_tcp_sock((void *)sk), c, kind, state);
	e->shed = shed;
	orb8_submit(e);
}
