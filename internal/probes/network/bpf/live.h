/* Live connections for the flow table: the flow iterator's records. */
#pragma once

#include "counting.h"
#include "events.h"

/*
 * Takes what a tracked socket moved since the last count into its
 * workload's counters, and writes its record for the flow table. sk and tp
 * are untrusted pointers (the file walk's): plain loads only, no helper that
 * takes a socket.
 */
static __always_inline void write_live(struct seq_file *seq, struct sock *sk, struct tcp_sock *tp, struct conn *c)
{
	struct conn_event r;
	int state = sk->__sk_common.skc_state;

	flush(c, tp, state, 0);
	fill_event(&r, sk, tp, c, RECORD_LIVE, state);
	r.boot_ns = c->last_ns; /* a live record's time is the flow's last activity */
	bpf_seq_write(seq, &r, sizeof(r));
}

/*
 * Every socket file of every process, in any network namespace (iter/tcp
 * would see only the reader's), with no map iterator, which some kernel
 * builds refuse (docs/design.md). A socket held by several processes is
 * written once by each; user space merges records by cookie. Sockets no
 * process holds (orphans closing, connections not yet accepted, kernel
 * sockets, io_uring fixed files) are not visited: their close record, and
 * their open record while tcp events are watched, reach the flow table.
 * The socket pointer is untrusted here, so its cookie is read, never
 * generated: a tracked socket has one since its entry was made.
 */
static __always_inline int dump_by_file(struct bpf_iter__task_file *ctx)
{
	struct file *file = ctx->file;

	if (!file)
		return 0;
	struct socket *sock = bpf_sock_from_file(file);
	if (!sock)
		return 0;
	struct sock *sk = sock->sk;
	if (!sk || sk->sk_protocol != IPPROTO_TCP)
		return 0;
	__u64 cookie = BPF_CORE_READ(sk, __sk_common.skc_cookie.counter);
	struct conn *c = cookie ? conn_lookup(cookie) : 0;
	if (c)
		write_live(ctx->meta->seq, sk, orb8_core_cast(sk, struct tcp_sock), c);
	return 0;
}
