/* Exact TCP payload from sequence space: baselines, flushes and the socket state they keep. */
#pragma once

#include "types.h"

/* States of an open connection: write_seq and copied_seq move only by payload, SYN and FIN. */
static __always_inline int open_state(int state)
{
	return state == TCP_ESTABLISHED || state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 ||
	       state == TCP_CLOSE_WAIT || state == TCP_LAST_ACK || state == TCP_CLOSING;
}

/*
 * States in which payload can still be counted: after the close the
 * application may read what arrived before it. Sending is over, and whether
 * write_seq holds a FIN is no longer known, so TCP_CLOSE counts receive only.
 */
static __always_inline int counting_state(int state)
{
	return open_state(state) || state == TCP_CLOSE;
}

/* States in which our FIN is queued: it took one sequence number of write_seq. */
static __always_inline __u32 fin_queued(int state)
{
	return state == TCP_FIN_WAIT1 || state == TCP_FIN_WAIT2 || state == TCP_LAST_ACK ||
	       state == TCP_CLOSING;
}

/* The peer's FIN was received (SOCK_DONE) and consumed: copied_seq passed it. */
static __always_inline __u32 fin_consumed(const struct tcp_sock *tp)
{
	return (tp->inet_conn.icsk_inet.sk.__sk_common.skc_flags & (1UL << SOCK_DONE)) &&
	       tp->copied_seq == tp->rcv_nxt;
}

/* The application's payload sequence numbers and data segments, now. */
struct marks {
	__u32 v[MARKS];
};

static __always_inline void read_marks(const struct tcp_sock *tp, int state, struct marks *m)
{
	m->v[BYTES_TX] = tp->write_seq - fin_queued(state);
	m->v[BYTES_RX] = tp->copied_seq - fin_consumed(tp);
	m->v[SEGS_TX] = tp->data_segs_out;
	m->v[SEGS_RX] = tp->data_segs_in;
}

/* How far a mark moved forward (sequence arithmetic); 0 if it did not. */
static __always_inline __u32 advance(__u32 mark, __u32 now)
{
	__u32 delta = now - mark;

	return (__s32)delta > 0 ? delta : 0;
}

/*
 * Claims the advance of *mark to now. Flushes of one socket can race (a
 * state change in softirq on one CPU, the flow walk on another): only the
 * flush whose compare-and-swap wins counts the advance, so nothing is
 * counted twice.
 */
static __always_inline __u32 take(__u64 *mark, __u32 now)
{
	__u64 old = *(volatile __u64 *)mark;
	__u32 delta = advance((__u32)old, now);

	if (!delta)
		return 0;
	if (__sync_val_compare_and_swap(mark, old, old + delta) != old)
		return 0;
	return delta;
}

/*
 * Notes activity at jiffy j. Reading the clock costs more than the rest of a
 * flush in a VM, so last_ns moves once per jiffy: it is the first activity of
 * the last jiffy that had any.
 */
static __always_inline void touch(struct conn *c, __u64 j)
{
	if (c->last_jiffies != j) {
		c->last_jiffies = j;
		c->last_ns = bpf_ktime_get_boot_ns();
	}
}

/*
 * Samples the smoothed RTT (srtt_us) once per jiffy of a connection that
 * sends: the ACKs of what it sends keep the estimate current. A per-ACK
 * sockops callback cost ~150 ns on every ACK; this costs a compare per flush.
 */
static __always_inline void sample_rtt(struct conn *c, __u32 srtt_us, struct net_stats *s, __u64 j)
{
	if (c->rtt_jiffies == (__u32)j || !srtt_us)
		return;
	c->rtt_jiffies = j;
	orb8_hist_add(&s->rtt, (__u64)srtt_us * 1000);
}

/* The smoothed RTT in microseconds (the kernel keeps 8 times it). */
static __always_inline __u32 srtt_of(const struct tcp_sock *tp)
{
	return tp->srtt_us >> 3;
}

/*
 * Counts what the connection moved since the last count into s, its
 * workload's counters (looked up here, only if something moved, when 0):
 * m and srtt_us as read from its socket in state.
 */
static __always_inline void count_marks(struct conn *c, const struct marks *m, int state, __u32 srtt_us,
					struct net_stats *s)
{
	__u32 d[MARKS];

	d[BYTES_TX] = open_state(state) ? take(&c->mark[BYTES_TX], m->v[BYTES_TX]) : 0;
	d[BYTES_RX] = take(&c->mark[BYTES_RX], m->v[BYTES_RX]);
	d[SEGS_TX] = take(&c->mark[SEGS_TX], m->v[SEGS_TX]);
	d[SEGS_RX] = take(&c->mark[SEGS_RX], m->v[SEGS_RX]);
	if (!(d[BYTES_TX] | d[BYTES_RX] | d[SEGS_TX] | d[SEGS_RX]))
		return;
	__u64 j = bpf_jiffies64();
	touch(c, j);
	if (!s)
		s = stats_of(c->cgroup_id);
	if (!s)
		return;
	s->tcp_bytes[TX] += d[BYTES_TX];
	s->tcp_bytes[RX] += d[BYTES_RX];
	s->tcp_packets[TX] += d[SEGS_TX];
	s->tcp_packets[RX] += d[SEGS_RX];
	if (d[BYTES_TX] | d[SEGS_TX])
		sample_rtt(c, srtt_us, s, j);
}

/* Whether a count of the connection in state can move anything. */
static __always_inline int countable(const struct conn *c, int state)
{
	return c->tracking == COUNTING && counting_state(state);
}

/* Counts what the connection moved since the last count (see count_marks). */
static __always_inline void flush(struct conn *c, const struct tcp_sock *tp, int state, struct net_stats *s)
{
	struct marks m;

	if (!countable(c, state))
		return;
	read_marks(tp, state, &m);
	count_marks(c, &m, state, srtt_of(tp), s);
}

/*
 * Remembers a process that uses the socket: the first one seen in process
 * context (connect, sendmsg, recvmsg) that belongs to the socket's own
 * workload, which rules out kernel threads and, in softirq, an unrelated
 * interrupted task. Once the socket has its process, this CPU notes it
 * (owned).
 */
static __always_inline void own(struct conn *c)
{
	if (!c->pid && !(bpf_get_current_task_btf()->flags & PF_KTHREAD) &&
	    bpf_get_current_cgroup_id() == c->cgroup_id) {
		c->pid = bpf_get_current_pid_tgid() >> 32;
		bpf_get_current_comm(c->comm, sizeof(c->comm));
	}
	if (!c->pid)
		return;
	__u64 *note = owned_note(c->cookie);
	if (note)
		*note = c->cookie;
}

/* A new entry for a socket that has none; a failed creation (a full table) is counted. */
static __always_inline struct conn *conn_new(const struct sock *sk, __u64 cookie)
{
	struct conn init = {
		.cookie = cookie,
		.cgroup_id = sock_cgroup_id(sk),
		.start_ns = bpf_ktime_get_boot_ns(),
		.direction = DIRECTION_UNKNOWN,
		.sk = (__u64)sk,
	};
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	if (tp)
		init.retrans = tp->total_retrans;
	init.last_ns = init.start_ns;
	long err = bpf_map_update_elem(&conns, &cookie, &init, BPF_NOEXIST);
	if (err && err != -EEXIST) { /* EEXIST: a racing CPU created it */
		orb8_count(ORB8_MAP_FULL);
		return 0;
	}
	return conn_lookup(cookie);
}

/* The socket's state, created on first sight. */
static __always_inline struct conn *conn_of(const struct sock *sk, __u64 cookie)
{
	struct conn *c = conn_lookup(cookie);

	return c ? c : conn_new(sk, cookie);
}

/*
 * Sets the sequence baselines and counts the connection as active, once.
 * Returns whether this call did it.
 */
static __always_inline int start_counting(struct conn *c, const struct tcp_sock *tp, struct net_stats *s, int state)
{
	struct marks m;

	if (__sync_val_compare_and_swap(&c->tracking, UNTRACKED, INITIALIZING) != UNTRACKED)
		return 0;
	read_marks(tp, state, &m);
	for (int i = 0; i < MARKS; i++)
		c->mark[i] = c->base[i] = m.v[i];
	c->sport = tp->inet_conn.icsk_inet.sk.__sk_common.skc_num;
	c->active = 1;
	if (s)
		s->active++;
	__sync_lock_test_and_set(&c->tracking, COUNTING);
	return 1;
}

/*
 * A send or receive by the socket's application: remembers the process and
 * adopts a connection older than the agent (counted from here, direction
 * unknown). Payload is not counted here: the kernel keeps the socket's
 * sequence numbers, and their advance is taken at state changes, when the
 * socket is released, and by the flow walk on every scrape (live.h).
 */
static __always_inline void used(const struct sock *sk)
{
	__u64 cookie = cookie_of(sk);
	__u64 *note = owned_note(cookie);

	if (note && *note == cookie)
		return; /* owned, and noted by this CPU: nothing to note */
	struct conn *c = conn_lookup(cookie);

	if (c) {
		own(c);
		return;
	}
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	if (!tp)
		return;
	int state = tp->inet_conn.icsk_inet.sk.__sk_common.skc_state;
	if (!open_state(state))
		return;
	c = conn_new(sk, cookie);
	if (!c)
		return;
	own(c);
	start_counting(c, tp, stats_of(c->cgroup_id), state);
}
