/* TCP state changes: handshakes, closes, reuse, and the socket's destruction. */
#pragma once

#include "counting.h"
#include "events.h"

static __always_inline void handshake_done(const struct sock *sk, struct tcp_sock *tp, struct net_stats *s,
					   __u64 cookie, int oldstate)
{
	struct conn *c = conn_of(sk, cookie);

	if (!c)
		return;
	c->direction = oldstate == TCP_SYN_SENT ? OUTBOUND : INBOUND; /* also when the handshake began before the agent */
	if (!start_counting(c, tp, s, TCP_ESTABLISHED))
		return;
	if (s)
		s->connections[c->direction & 1][OK]++;
	emit(sk, c, EVENT_OPEN, TCP_ESTABLISHED);
}

static __always_inline void handshake_failed(const struct sock *sk, struct net_stats *s, struct conn *c,
					     enum direction direction)
{
	if (s)
		s->connections[direction][FAILED]++;
	if (c) {
		c->direction = direction;
		c->err = sk->sk_err;
	}
	emit(sk, c, EVENT_FAILED, TCP_CLOSE);
}

/* s: the workload's counters, looked up here when 0. */
static __always_inline void inactive(struct conn *c, struct net_stats *s)
{
	if (!__sync_lock_test_and_set(&c->active, 0))
		return;
	if (!s)
		s = stats_of(c->cgroup_id);
	if (s)
		s->active--;
}

/* The connection closed; the close event waits for the socket's destruction. */
static __always_inline void closed(const struct sock *sk, struct net_stats *s, struct conn *c)
{
	if (c->tracking != COUNTING)
		return;
	c->err = sk->sk_err; /* set before the close by resets and timeouts; reading the socket clears it */
	inactive(c, s);
}

/*
 * A closed socket connects again (connect() after AF_UNSPEC disconnect):
 * the old connection ends here, and the state starts over.
 */
static __always_inline void reused(const struct sock *sk, struct net_stats *s, struct conn *c)
{
	if (c->tracking == COUNTING) {
		inactive(c, s);
		emit(sk, c, EVENT_CLOSE, TCP_CLOSE);
	}
	c->tracking = UNTRACKED;
	for (int i = 0; i < MARKS; i++)
		c->base[i] = c->mark[i]; /* totals start over */
	c->start_ns = bpf_ktime_get_boot_ns();
	c->last_ns = c->start_ns;
	c->err = 0;
	c->direction = DIRECTION_UNKNOWN;
}

/*
 * A state change: follows the handshake and the close. Only the changes
 * that start or end a connection look at its state: the sequence numbers
 * account for a FIN by the state they are read in, so what moved through
 * FIN_WAIT1, CLOSE_WAIT and the like is all there when the connection
 * enters CLOSE or its socket is released. One lookup of the workload's
 * counters serves the whole change: a socket's cgroup does not change.
 */
static __always_inline int set_state(const struct sock *sk, int oldstate, int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP || !is_inet(sk))
		return 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	if (!tp)
		return 0;

	struct net_stats *s = stats_of(sock_cgroup_id(sk));
	if (s)
		s->transitions[newstate & (STATE_SLOTS - 1)]++;

	switch (newstate) {
	case TCP_SYN_SENT:
	case TCP_SYN_RECV: {
		/* The handshake starts now. */
		__u64 cookie = cookie_of(sk);
		struct conn *c = conn_lookup(cookie);
		if (c) {
			flush(c, tp, oldstate, s); /* sk_state is still oldstate */
			reused(sk, s, c);
		} else {
			c = conn_new(sk, cookie);
		}
		if (c) {
			c->direction = newstate == TCP_SYN_SENT ? OUTBOUND : INBOUND;
			if (newstate == TCP_SYN_SENT)
				own(c); /* connect() runs in the connecting process */
		}
		break;
	}
	case TCP_ESTABLISHED:
		if (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)
			handshake_done(sk, tp, s, cookie_of(sk), oldstate);
		break;
	case TCP_CLOSE: {
		struct conn *c = conn_lookup(cookie_of(sk));
		if (c)
			flush(c, tp, oldstate, s); /* sk_state is still oldstate: count what moved before the change */
		if (oldstate == TCP_SYN_SENT)
			handshake_failed(sk, s, c, OUTBOUND);
		else if (oldstate == TCP_SYN_RECV)
			handshake_failed(sk, s, c, INBOUND);
		else if (c)
			closed(sk, s, c);
		break;
	}
	}
	return 0;
}

/*
 * The socket is released: what the application read after the close is in,
 * the connection is over, and its entry goes back to the table.
 */
static __always_inline int destroy(struct sock *sk)
{
	__u64 cookie = cookie_of(sk);
	struct conn *c = conn_lookup(cookie);
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);

	if (!c)
		return 0;
	if (tp && c->tracking == COUNTING) {
		flush(c, tp, tp->inet_conn.icsk_inet.sk.__sk_common.skc_state, 0);
		inactive(c, 0);
		emit(sk, c, EVENT_CLOSE, TCP_CLOSE);
	}
	bpf_map_delete_elem(&conns, &cookie); /* the only delete: owned notes rely on it */
	return 0;
}
