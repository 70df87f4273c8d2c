//go:build ignore

/*
 * Network: TCP and UDP payload bytes and packets per workload, TCP
 * connections, state transitions, retransmits and RTT, and one event per
 * connection opened, closed or failed.
 *
 * Attribution is by the socket's cgroup (sk->sk_cgrp_data: the cgroup of the
 * process that created the socket; an accepted socket inherits its
 * listener's), the same cgroup cgroup_skb programs run for. It is right in
 * softirq context and in any network namespace, where current is not.
 *
 * Exact TCP payload bytes come from sequence space, not from packets: the
 * bytes an application wrote are the advance of write_seq, the bytes it
 * consumed the advance of copied_seq, minus the SYN and FIN each takes. That
 * counts send/write/sendmsg, sendfile and splice into a socket, recv/read,
 * splice out of a socket and zero-copy receive alike, never counts a
 * retransmission or a header, and does not care about TSO/GSO/GRO sizes. The
 * advance is taken at "flush points": after every sendmsg (sock_send_length),
 * after every recvmsg that returned data (sock_recv_length), whenever received
 * data is consumed outside recvmsg (tcp_rcv_space_adjust, which tcp_read_sock
 * (splice) and zero-copy receive call after moving copied_seq; see
 * recvmsg_flushes), at every state change, and when the socket is destroyed.
 * Data that arrived before the connection closed can still be read in
 * TCP_CLOSE, so a connection's close event is sent when its socket is
 * destroyed.
 *
 * RTT is the kernel's smoothed estimate (tcp_sock.srtt_us), sampled into the
 * histogram at most once per jiffy per connection, at a flush that found the
 * connection sending: no per-ACK callback.
 *
 * UDP payload is what each sendmsg/recvmsg returns (sock_send_length,
 * sock_recv_length): one datagram per call.
 */
#include "orb8.h"
#include "orb8_hist.h"
#include <bpf/bpf_endian.h>

#define AF_INET 2
#define AF_INET6 10
#define MSG_PEEK 2

#define TX 0
#define RX 1

/* The four counts kept per connection, in struct marks and conn.mark/base. */
#define BYTES_TX 0   /* write_seq */
#define BYTES_RX 1   /* copied_seq */
#define SEGS_TX 2    /* data_segs_out */
#define SEGS_RX 3    /* data_segs_in */
#define MARKS 4

#define OUTBOUND 0
#define INBOUND 1
#define DIRECTION_UNKNOWN 2 /* adopted after the agent started: handshake not seen */

#define OK 0
#define FAILED 1

/* Slots of net_stats.transitions, indexed by the TCP state entered. */
#define STATE_SLOTS 16

enum event_kind {
	EVENT_OPEN = 1,   /* handshake completed */
	EVENT_CLOSE = 2,  /* an open connection closed */
	EVENT_FAILED = 3, /* a handshake that never completed */
	RECORD_LIVE = 4,  /* a live connection, from the flow iterator */
};

/* conn.tracking: whether the sequence baselines are set. */
enum tracking {
	UNTRACKED = 0,
	COUNTING = 1,
	INITIALIZING = 2,
};

struct net_stats {
	__u64 tcp_bytes[2]; /* [TX|RX] */
	__u64 tcp_packets[2];
	__u64 udp_bytes[2];
	__u64 udp_packets[2];
	__u64 connections[2][2]; /* [OUTBOUND|INBOUND][OK|FAILED] */
	__s64 active;            /* per-CPU delta; the sum over CPUs is the gauge */
	__u64 retransmits;
	__u64 transitions[STATE_SLOTS];
	struct orb8_log2_hist rtt;
};

/* Per-socket state, in socket local storage: freed with the socket. */
struct conn {
	__u64 cookie;
	__u64 cgroup_id;
	__u64 start_ns; /* connect() or SYN received; adoption for older sockets */
	__u64 last_ns;  /* last flush that moved a counter, to within a jiffy (see touch) */
	/*
	 * The counts already taken (BYTES_TX, ...): the kernel's 32-bit values
	 * extended to 64 bits as they advance. The connection's totals are
	 * mark - base, so taking an advance is one compare-and-swap.
	 */
	__u64 mark[MARKS];
	__u64 base[MARKS];
	__u32 tracking;
	__u32 active; /* counted in the active gauge */
	__u16 err;    /* sk_err when the connection closed */
	__u16 sport;  /* the local port: a closed socket gives it back before its close event */
	__u8 direction;
	__u8 pad[3];
	__u32 pid; /* a process of the owning workload that used the socket (see own) */
	__u8 comm[16];
	__u32 retrans;      /* tcp_sock.total_retrans already counted */
	__u32 rtt_jiffies;  /* low bits of the jiffy of the last RTT sample */
	__u64 last_jiffies; /* of last_ns */
};

/* A connection event, and the record the flow iterator writes. */
struct conn_event {
	__u64 boot_ns;
	__u64 start_ns;
	__u64 cgroup_id;
	__u64 cookie;
	__u64 bytes[2];
	__u64 packets[2];
	__u8 saddr[16];
	__u8 daddr[16];
	__u32 netns;
	__u16 sport;
	__u16 dport;
	__u16 family;
	__u16 err; /* sk_err: ECONNREFUSED, ETIMEDOUT, ECONNRESET, ... */
	__u8 kind;
	__u8 direction;
	__u8 state; /* TCP state: ESTABLISHED for open, CLOSE for close and failed, the current one live */
	__u8 pad;
	__u32 retransmits; /* the connection's own count (tcp_sock.total_retrans) */
	__u32 srtt_us;     /* smoothed RTT */
	__u32 pid;
	__u8 comm[16];
};

/* Keeps struct conn_event in BTF so bpf2go emits its Go twin. */
const struct conn_event *unused_conn_event __attribute__((unused));

struct {
	__uint(type, BPF_MAP_TYPE_PERCPU_HASH);
	__uint(map_flags, BPF_F_NO_PREALLOC); /* memory only for cgroups that use the network */
	__uint(max_entries, ORB8_MAX_CGROUPS);
	__type(key, __u64);
	__type(value, struct net_stats);
} stats SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_SK_STORAGE);
	__uint(map_flags, BPF_F_NO_PREALLOC);
	__type(key, int);
	__type(value, struct conn);
} conns SEC(".maps");

struct {
	__uint(type, BPF_MAP_TYPE_RINGBUF);
	__uint(max_entries, 1 << 20);
} events SEC(".maps");

static const struct net_stats zero_stats;

static __always_inline struct net_stats *stats_of(__u64 cgroup_id)
{
	return orb8_lookup_or_init(&stats, &cgroup_id, &zero_stats);
}

static __always_inline int is_inet(const struct sock *sk)
{
	__u16 family = sk->__sk_common.skc_family;
	return family == AF_INET || family == AF_INET6;
}

static __always_inline __u64 sock_cgroup_id(const struct sock *sk)
{
	return sk->sk_cgrp_data.cgroup->kn->id;
}

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
 * sendmsg returning on one CPU, softirq on another): only the flush whose
 * compare-and-swap wins counts the advance, so nothing is counted twice.
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
 * Samples the smoothed RTT once per jiffy of a connection that sends: the
 * ACKs of what it sends keep the estimate current. A per-ACK sockops
 * callback cost ~150 ns on every ACK; this costs a compare per flush.
 */
static __always_inline void sample_rtt(struct conn *c, const struct tcp_sock *tp, struct net_stats *s, __u64 j)
{
	__u32 srtt = tp->srtt_us >> 3; /* stored as 8x microseconds */

	if (c->rtt_jiffies == (__u32)j || !srtt)
		return;
	c->rtt_jiffies = j;
	orb8_hist_add(&s->rtt, (__u64)srtt * 1000);
}

/* Counts what the connection moved since the last flush. */
static __always_inline void flush(struct conn *c, const struct tcp_sock *tp, int state)
{
	struct marks m;
	__u32 d[MARKS];

	if (c->tracking != COUNTING || !counting_state(state))
		return;
	read_marks(tp, state, &m);
	d[BYTES_TX] = open_state(state) ? take(&c->mark[BYTES_TX], m.v[BYTES_TX]) : 0;
	d[BYTES_RX] = take(&c->mark[BYTES_RX], m.v[BYTES_RX]);
	d[SEGS_TX] = take(&c->mark[SEGS_TX], m.v[SEGS_TX]);
	d[SEGS_RX] = take(&c->mark[SEGS_RX], m.v[SEGS_RX]);
	if (!(d[BYTES_TX] | d[BYTES_RX] | d[SEGS_TX] | d[SEGS_RX]))
		return;
	__u64 j = bpf_jiffies64();
	touch(c, j);
	struct net_stats *s = stats_of(c->cgroup_id);
	if (!s)
		return;
	s->tcp_bytes[TX] += d[BYTES_TX];
	s->tcp_bytes[RX] += d[BYTES_RX];
	s->tcp_packets[TX] += d[SEGS_TX];
	s->tcp_packets[RX] += d[SEGS_RX];
	if (d[BYTES_TX] | d[SEGS_TX])
		sample_rtt(c, tp, s, j);
}

/*
 * Remembers a process that uses the socket: the first one seen in process
 * context (connect, sendmsg, consuming received data) that belongs to the
 * socket's own workload, which rules out kernel threads and, in softirq, an
 * unrelated interrupted task.
 */
static __always_inline void own(struct conn *c)
{
	if (c->pid || (bpf_get_current_task_btf()->flags & PF_KTHREAD) ||
	    bpf_get_current_cgroup_id() != c->cgroup_id)
		return;
	c->pid = bpf_get_current_pid_tgid() >> 32;
	bpf_get_current_comm(c->comm, sizeof(c->comm));
}

/* The socket's state, created on first sight; a failed creation is counted. */
static __always_inline struct conn *conn_of(const struct sock *sk)
{
	struct conn *c = bpf_sk_storage_get(&conns, (struct sock *)sk, 0, BPF_SK_STORAGE_GET_F_CREATE);

	if (!c) {
		orb8_count(ORB8_MAP_FULL);
		return 0;
	}
	if (!c->start_ns) {
		struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
		if (tp)
			c->retrans = tp->total_retrans;
		c->cookie = bpf_get_socket_cookie((struct sock *)sk);
		c->cgroup_id = sock_cgroup_id(sk);
		c->start_ns = bpf_ktime_get_boot_ns();
		c->last_ns = c->start_ns;
		c->direction = DIRECTION_UNKNOWN;
	}
	return c;
}

/*
 * Sets the sequence baselines and counts the connection as active, once.
 * Returns whether this call did it.
 */
static __always_inline int start_counting(struct conn *c, const struct tcp_sock *tp, int state)
{
	struct marks m;

	if (__sync_val_compare_and_swap(&c->tracking, UNTRACKED, INITIALIZING) != UNTRACKED)
		return 0;
	read_marks(tp, state, &m);
	for (int i = 0; i < MARKS; i++)
		c->mark[i] = c->base[i] = m.v[i];
	c->sport = tp->inet_conn.icsk_inet.sk.__sk_common.skc_num;
	c->active = 1;
	struct net_stats *s = stats_of(c->cgroup_id);
	if (s)
		s->active++;
	__sync_lock_test_and_set(&c->tracking, COUNTING);
	return 1;
}

/* A flush point outside state changes: counts, adopting connections older than the agent. */
static __always_inline void flush_sock(const struct sock *sk)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);

	if (!tp)
		return;
	int state = tp->inet_conn.icsk_inet.sk.__sk_common.skc_state;
	if (!counting_state(state))
		return;
	struct conn *c = state == TCP_CLOSE ? bpf_sk_storage_get(&conns, (void *)sk, 0, 0) : conn_of(sk);
	if (!c)
		return;
	own(c);
	if (c->tracking == UNTRACKED) {
		/* Payload moved before this point is not known: count from here. */
		if (open_state(state))
			start_counting(c, tp, state);
		return;
	}
	flush(c, tp, state);
}

static __always_inline void fill_event(struct conn_event *e, const struct sock *sk, const struct tcp_sock *tp,
				       const struct conn *c, __u8 kind, __u8 state)
{
	__u16 family = sk->__sk_common.skc_family;

	__builtin_memset(e, 0, sizeof(*e));
	e->boot_ns = bpf_ktime_get_boot_ns();
	e->kind = kind;
	e->state = state;
	e->family = family;
	e->sport = sk->__sk_common.skc_num;
	e->dport = bpf_ntohs(sk->__sk_common.skc_dport);
	e->netns = sk->__sk_common.skc_net.net->ns.inum;
	if (family == AF_INET) {
		__builtin_memcpy(e->saddr, &sk->__sk_common.skc_rcv_saddr, 4);
		__builtin_memcpy(e->daddr, &sk->__sk_common.skc_daddr, 4);
	} else {
		bpf_probe_read_kernel(e->saddr, 16, &sk->__sk_common.skc_v6_rcv_saddr);
		bpf_probe_read_kernel(e->daddr, 16, &sk->__sk_common.skc_v6_daddr);
	}
	if (tp) {
		e->retransmits = tp->total_retrans;
		e->srtt_us = tp->srtt_us >> 3;
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

static __always_inline void emit(const struct sock *sk, const struct conn *c, __u8 kind, __u8 state)
{
	struct conn_event *e = orb8_reserve(&events, sizeof(*e));

	if (!e)
		return;
	fill_event(e, sk, bpf_skc_to_tcp_sock((void *)sk), c, kind, state);
	orb8_submit(e);
}

static __always_inline void handshake_done(const struct sock *sk, struct tcp_sock *tp, int oldstate)
{
	struct conn *c = conn_of(sk);

	if (!c)
		return;
	c->direction = oldstate == TCP_SYN_SENT ? OUTBOUND : INBOUND; /* also when the handshake began before the agent */
	if (!start_counting(c, tp, TCP_ESTABLISHED))
		return;
	struct net_stats *s = stats_of(c->cgroup_id);
	if (s)
		s->connections[c->direction & 1][OK]++;
	emit(sk, c, EVENT_OPEN, TCP_ESTABLISHED);
}

static __always_inline void handshake_failed(const struct sock *sk, struct conn *c, __u8 direction)
{
	struct net_stats *s = stats_of(sock_cgroup_id(sk));

	if (s)
		s->connections[direction][FAILED]++;
	if (c) {
		c->direction = direction;
		c->err = sk->sk_err;
	}
	emit(sk, c, EVENT_FAILED, TCP_CLOSE);
}

static __always_inline void inactive(struct conn *c)
{
	if (!__sync_lock_test_and_set(&c->active, 0))
		return;
	struct net_stats *s = stats_of(c->cgroup_id);
	if (s)
		s->active--;
}

/* The connection closed; the close event waits for the socket's destruction. */
static __always_inline void closed(const struct sock *sk, struct conn *c)
{
	if (c->tracking != COUNTING)
		return;
	c->err = sk->sk_err; /* set before the close by resets and timeouts; reading the socket clears it */
	inactive(c);
}

/*
 * A closed socket connects again (connect() after AF_UNSPEC disconnect):
 * the old connection ends here, and the state starts over.
 */
static __always_inline void reused(const struct sock *sk, struct conn *c)
{
	if (c->tracking == COUNTING) {
		inactive(c);
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

SEC("tp_btf/inet_sock_set_state")
int BPF_PROG(on_set_state, const struct sock *sk, int oldstate, int newstate)
{
	if (sk->sk_protocol != IPPROTO_TCP || !is_inet(sk))
		return 0;
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	if (!tp)
		return 0;

	struct net_stats *s = stats_of(sock_cgroup_id(sk));
	if (s)
		s->transitions[newstate & (STATE_SLOTS - 1)]++;

	/* sk_state is still oldstate: count what moved before the change. */
	struct conn *c = bpf_sk_storage_get(&conns, (struct sock *)sk, 0, 0);
	if (c)
		flush(c, tp, oldstate);

	switch (newstate) {
	case TCP_SYN_SENT:
	case TCP_SYN_RECV:
		/* The handshake starts now. */
		if (c)
			reused(sk, c);
		else
			c = conn_of(sk);
		if (c) {
			c->direction = newstate == TCP_SYN_SENT ? OUTBOUND : INBOUND;
			if (newstate == TCP_SYN_SENT)
				own(c); /* connect() runs in the connecting process */
		}
		break;
	case TCP_ESTABLISHED:
		if (oldstate == TCP_SYN_SENT || oldstate == TCP_SYN_RECV)
			handshake_done(sk, tp, oldstate);
		break;
	case TCP_CLOSE:
		if (oldstate == TCP_SYN_SENT)
			handshake_failed(sk, c, OUTBOUND);
		else if (oldstate == TCP_SYN_RECV)
			handshake_failed(sk, c, INBOUND);
		else if (c)
			closed(sk, c);
		break;
	}
	return 0;
}

/* The socket is released: what the application read after the close is in, the connection is over. */
SEC("tp_btf/tcp_destroy_sock")
int BPF_PROG(on_destroy, struct sock *sk)
{
	struct conn *c = bpf_sk_storage_get(&conns, sk, 0, 0);
	struct tcp_sock *tp = bpf_skc_to_tcp_sock(sk);

	if (!c || !tp || c->tracking != COUNTING)
		return 0;
	flush(c, tp, tp->inet_conn.icsk_inet.sk.__sk_common.skc_state);
	inactive(c);
	emit(sk, c, EVENT_CLOSE, TCP_CLOSE);
	return 0;
}

/* Every sendmsg, TCP or UDP, including sendfile and splice into a socket. */
SEC("tp_btf/sock_send_length")
int BPF_PROG(on_send, struct sock *sk, int ret, int flags)
{
	if (!is_inet(sk))
		return 0;
	if (sk->sk_protocol == IPPROTO_TCP) {
		if (ret > 0)
			flush_sock(sk);
		return 0;
	}
	if (sk->sk_protocol != IPPROTO_UDP || ret < 0)
		return 0;
	struct net_stats *s = stats_of(sock_cgroup_id(sk));
	if (s) {
		s->udp_bytes[TX] += ret;
		s->udp_packets[TX]++;
	}
	return 0;
}

/* Every recvmsg, any socket: a TCP flush point (see on_consumed), and UDP's datagrams. */
SEC("tp_btf/sock_recv_length")
int BPF_PROG(on_recv, struct sock *sk, int ret, int flags)
{
	if (ret <= 0 || !is_inet(sk))
		return 0;
	if (sk->sk_protocol == IPPROTO_TCP) {
		flush_sock(sk);
		return 0;
	}
	if ((flags & MSG_PEEK) || sk->sk_protocol != IPPROTO_UDP)
		return 0;
	struct net_stats *s = stats_of(sock_cgroup_id(sk));
	if (s) {
		s->udp_bytes[RX] += ret;
		s->udp_packets[RX]++;
	}
	return 0;
}

#define PF_IO_WORKER 0x00000010

/*
 * Whether sock_recv_length will flush sk when the current call returns:
 * recvmsg calls tcp_rcv_space_adjust once per skb it copies (three or four
 * times per read of a bulk stream), and flushing once per recvmsg instead
 * saves the rest. True when a user task (no kernel or io_uring worker,
 * whose registers hold no syscall) is in a 64-bit syscall that reads a
 * socket only through sock_recvmsg, and holds sk's lock: then sk is the
 * socket it reads (softirq work on a socket, such as strparser's read_sock,
 * happens only while no task owns it). Anything else (splice, zero-copy
 * receive, io_uring) flushes here. A wrong guess would only delay counts to
 * the socket's next flush point, never lose them.
 */
static __always_inline int recvmsg_flushes(const struct sock *sk)
{
	if (!sk->sk_lock.owned)
		return 0;
	struct task_struct *t = bpf_get_current_task_btf();
	if ((t->flags & (PF_KTHREAD | PF_IO_WORKER)) || orb8_compat_task(t))
		return 0;
	struct pt_regs *regs = (struct pt_regs *)bpf_task_pt_regs(t);
	switch (orb8_syscall_nr(regs)) {
	case ORB8_NR_READ:
	case ORB8_NR_READV:
	case ORB8_NR_RECVFROM:
	case ORB8_NR_RECVMSG:
	case ORB8_NR_RECVMMSG:
		return 1;
	}
	return 0;
}

/* Called by recvmsg, tcp_read_sock (splice) and zero-copy receive after copied_seq moved. */
SEC("tp_btf/tcp_rcv_space_adjust")
int BPF_PROG(on_consumed, struct sock *sk)
{
	if (!recvmsg_flushes(sk))
		flush_sock(sk);
	return 0;
}

/*
 * Fires after every retransmission attempt, SYNs included, with its error.
 * What counts is the advance of the socket's total_retrans, which the kernel
 * moves together with its RetransSegs counter: segments (not skbs) that went
 * out to be sent again, even if the device then dropped them, and none for
 * attempts given up early (-EBUSY while the original is still queued, ...).
 * Runs under the socket lock: no other retransmission of it races.
 */
SEC("tp_btf/tcp_retransmit_skb")
int BPF_PROG(on_retransmit, const struct sock *sk, const struct sk_buff *skb, int err)
{
	struct tcp_sock *tp = bpf_skc_to_tcp_sock((void *)sk);
	struct conn *c = bpf_sk_storage_get(&conns, (struct sock *)sk, 0, 0);
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
SEC("tp_btf/tcp_retransmit_synack")
int BPF_PROG(on_retransmit_synack, const struct sock *sk, const struct request_sock *req)
{
	struct net_stats *s = stats_of(sock_cgroup_id(sk));
	if (s)
		s->retransmits++;
	return 0;
}

/*
 * Writes a tracked socket's record for the flow table, with its counts as of
 * now: what moved since the last flush is read, not claimed, so the kernel
 * counters stay exact. sk and tp may be untrusted pointers (the file walk's):
 * plain loads only, no helper that takes a socket.
 */
static __always_inline void write_live(struct seq_file *seq, struct sock *sk, struct tcp_sock *tp,
				       const struct conn *c)
{
	struct conn_event r;
	int state = sk->__sk_common.skc_state;

	fill_event(&r, sk, tp, c, RECORD_LIVE, state);
	__u64 last = c->last_ns;
	if (tp && c->tracking == COUNTING && counting_state(state)) {
		struct marks m;
		__u32 d[MARKS];
		read_marks(tp, state, &m);
		d[BYTES_TX] = open_state(state) ? advance(c->mark[BYTES_TX], m.v[BYTES_TX]) : 0;
		d[BYTES_RX] = advance(c->mark[BYTES_RX], m.v[BYTES_RX]);
		d[SEGS_TX] = advance(c->mark[SEGS_TX], m.v[SEGS_TX]);
		d[SEGS_RX] = advance(c->mark[SEGS_RX], m.v[SEGS_RX]);
		r.bytes[TX] += d[BYTES_TX];
		r.bytes[RX] += d[BYTES_RX];
		r.packets[TX] += d[SEGS_TX];
		r.packets[RX] += d[SEGS_RX];
		if (d[BYTES_TX] | d[BYTES_RX] | d[SEGS_TX] | d[SEGS_RX])
			last = r.boot_ns;
	}
	r.boot_ns = last; /* a live record's time is the flow's last activity */
	bpf_seq_write(seq, &r, sizeof(r));
}

/* Every tracked socket, in any network namespace: one visit per socket. */
SEC("iter/bpf_sk_storage_map")
int dump_flows(struct bpf_iter__bpf_sk_storage_map *ctx)
{
	if (ctx->sk && ctx->value)
		write_live(ctx->meta->seq, ctx->sk, bpf_skc_to_tcp_sock(ctx->sk), ctx->value);
	return 0;
}

/* Bounds the walk of a socket's storage list: one element per sk_storage map on it. */
#define STORAGE_WALK 16

/*
 * The address of sk's conn, 0 if it has none: the kernel's own lookup
 * (bpf_local_storage_lookup: the map's cache slot, then the socket's list of
 * elements), read with CO-RE. The file walk needs it because its socket
 * pointer is untrusted, which bpf_sk_storage_get refuses.
 */
static __always_inline __u64 conn_addr(struct sock *sk)
{
	struct bpf_local_storage_map *smap = (void *)&conns;
	__u64 want = (__u64)smap, storage, data, owner, node;

	storage = (__u64)BPF_CORE_READ(sk, sk_bpf_storage);
	if (!storage)
		return 0;
	__u16 slot = smap->cache_idx; /* a field of our own map: a plain load */
	if (bpf_probe_read_kernel(&data, sizeof(data),
				  (void *)storage + bpf_core_field_offset(struct bpf_local_storage, cache) +
					  (slot & 15) * sizeof(__u64)) == 0 && data &&
	    bpf_probe_read_kernel(&owner, sizeof(owner), (void *)data) == 0 && owner == want)
		return data + bpf_core_field_offset(struct bpf_local_storage_data, data);

	bpf_probe_read_kernel(&node, sizeof(node),
			      (void *)storage + bpf_core_field_offset(struct bpf_local_storage, list));
	for (int i = 0; i < STORAGE_WALK && node; i++) {
		__u64 elem = node - bpf_core_field_offset(struct bpf_local_storage_elem, snode);
		__u64 sdata = elem + bpf_core_field_offset(struct bpf_local_storage_elem, sdata);
		if (bpf_probe_read_kernel(&owner, sizeof(owner), (void *)sdata) == 0 && owner == want)
			return sdata + bpf_core_field_offset(struct bpf_local_storage_data, data);
		if (bpf_probe_read_kernel(&node, sizeof(node), (void *)node)) /* hlist_node.next */
			return 0;
	}
	return 0;
}

/*
 * The same as dump_flows without a map iterator, which some kernel builds
 * refuse (docs/design.md): every socket file of every process, in any
 * network namespace (iter/tcp would see only the reader's). A socket held by
 * several processes is written once by each; user space merges records by
 * cookie. Sockets no process holds (orphans closing, connections not yet
 * accepted) are not visited: their events keep the flow table current.
 */
SEC("iter/task_file")
int dump_flows_by_file(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;
	struct conn c;

	if (!file)
		return 0;
	struct socket *sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	struct sock *sk = sock->sk;
	if (!sk || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	__u64 addr = conn_addr(sk);
	if (!addr || bpf_probe_read_kernel(&c, sizeof(c), (void *)addr))
		return 0;
	write_live(ctx->meta->seq, sk, orb8_core_cast(sk, struct tcp_sock), &c);
	return 0;
}
